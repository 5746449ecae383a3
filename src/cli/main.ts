import { Command } from 'commander';
import { loadDotenv } from '../config/load-dotenv';
import { PlanError } from '../plan/rollout-plan';
import { registerKeysCommand } from './keys-command';
import { registerListCommand } from './list-command';
import { registerOperatorCommands } from './operator-commands';
import { registerPlanCommand } from './plan-command';
import { registerStartCommand } from './start-command';
import { registerStatusCommand } from './status-command';
import { registerWatchCommand } from './watch-command';

/** The `rollout` CLI; `createProgram` is separate from `main` so tests can run commands in-process. */
export function createProgram(): Command {
  const program = new Command('rollout')
    .description('Move to the unified configuration and ramp it behind an Unleash flag, driven by Temporal.')
    .showHelpAfterError();
  registerKeysCommand(program);
  registerPlanCommand(program);
  registerStartCommand(program);
  registerStatusCommand(program);
  registerWatchCommand(program);
  registerListCommand(program);
  registerOperatorCommands(program);
  return program;
}

if (require.main === module) {
  loadDotenv();
  createProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      process.stderr.write(
        `rollout: ${error instanceof PlanError || error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = process.exitCode || 2;
    });
}
