import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json';
import { loadDotenv } from '../config/load-dotenv';
import { registerCancelCommand } from './cancel-command';
import { addExamples } from './command-examples';
import { addConnectionOptions } from './connection-options';
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
    .showHelpAfterError();
  addConnectionOptions(program);
  program.addHelpText('after', exitCodesHelp());
  registerKeysCommand(program);
  registerPlanCommand(program);
  registerStartCommand(program);
  registerStatusCommand(program);
  registerWatchCommand(program);
  registerListCommand(program);
  registerOperatorCommands(program);
  registerCancelCommand(program);
  addExamples(program);
  return program;
}

/**
 * The arguments without a `--` right after the script. Node 20 looks at `--env-file <file>` anywhere on its
 * command line, even after the script, and exits 9 ("node: <file>: not found") before the CLI runs when the
 * file is missing; `node main.ts -- --env-file <file>` hides it from Node, so `src/cli/rollout` passes `--`
 * first and the CLI drops it here.
 */
export function withoutLeadingSeparator(argv: readonly string[]): string[] {
  return argv[2] === '--' ? [...argv.slice(0, 2), ...argv.slice(3)] : [...argv];
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
    await program.parseAsync(withoutLeadingSeparator(argv));
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
