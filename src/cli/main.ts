import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json';
import { loadDotenv } from '../config/load-dotenv';
import { exitCodeFor, exitCodesHelp } from './exit-codes';
import { registerKeysCommand } from './keys-command';
import { registerListCommand } from './list-command';
import { registerOperatorCommands } from './operator-commands';
import { registerPlanCommand } from './plan-command';
import { registerStartCommand } from './start-command';
import { registerStatusCommand } from './status-command';
import { registerWatchCommand } from './watch-command';

/**
 * The `rollout` CLI; `createProgram` is separate from `main` so tests can run commands in-process. Commander's
 * own errors (and help, and `--version`) are thrown as a `CommanderError` instead of exiting, here and in
 * every subcommand (they inherit the setting), so one place turns every outcome into an exit code.
 */
export function createProgram(): Command {
  const program = new Command('rollout')
    .description('Move to the unified configuration and ramp it behind an Unleash flag, driven by Temporal.')
    .version(packageJson.version, '-V, --version', 'print the version of rollout')
    .exitOverride()
    .showHelpAfterError()
    .addHelpText('after', exitCodesHelp());
  registerKeysCommand(program);
  registerPlanCommand(program);
  registerStartCommand(program);
  registerStatusCommand(program);
  registerWatchCommand(program);
  registerListCommand(program);
  registerOperatorCommands(program);
  return program;
}

/**
 * Runs the CLI and returns its exit code (see `EXIT_CODES`): a command that ends normally keeps the code it
 * set (1 for a rollout that did not complete), an error is printed once and classified.
 *
 * @example
 * process.exitCode = await runCli(process.argv);
 */
export async function runCli(argv: readonly string[], program: Command = createProgram()): Promise<number> {
  try {
    await program.parseAsync([...argv]);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    const code = exitCodeFor(error);
    // Commander has already printed its own errors (and help and the version) through its output.
    if (!(error instanceof CommanderError)) {
      const write = program.configureOutput().writeErr ?? ((text: string) => process.stderr.write(text));
      write(`rollout: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    return code;
  }
}

if (require.main === module) {
  loadDotenv();
  void runCli(process.argv).then((code) => {
    process.exitCode = code;
  });
}
