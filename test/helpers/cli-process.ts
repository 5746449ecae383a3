import {
  spawn,
  type ChildProcess,
  type SpawnOptionsWithStdioTuple,
  type StdioNull,
  type StdioPipe,
} from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/config/load-dotenv';

export interface CliExit {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From spawn to close. */
  ms: number;
}

export interface CliProcess {
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
  exited: Promise<CliExit>;
  kill(): void;
}

const children = new Set<ChildProcess>();

/**
 * `rollout <args>` as a real child process (stdout and stderr are pipes, not a terminal), with `env` on top of
 * this process's environment: node with tsx as an import hook (so a kill reaches the CLI itself), `--` first as
 * `src/cli/rollout` does, so Node 20 leaves the CLI's --env-file alone; or, with `{ wrapper: true }`, through
 * `src/cli/rollout` itself, the wrapper operators run. Exit codes only exist across a process boundary.
 *
 * @example
 * const { code, stdout } = await cliProcess(['status', id], { ROLLOUT_TASK_QUEUE: queue }).exited;
 */
export function cliProcess(
  args: string[],
  env: Record<string, string> = {},
  options: { wrapper?: boolean } = {},
): CliProcess {
  const started = Date.now();
  const spawnOptions: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe> = {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  };
  const child = options.wrapper
    ? spawn(path.join(projectRoot, 'src/cli/rollout'), args, spawnOptions)
    : spawn(
        process.execPath,
        ['--import', 'tsx', path.join(projectRoot, 'src/cli/main.ts'), '--', ...args],
        spawnOptions,
      );
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<CliExit>((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    }),
  );
  return { stdout: () => stdout, stderr: () => stderr, exited, kill: () => child.kill('SIGTERM') };
}

/** Kills every CLI process still running (for afterAll: a failed test must not leave children behind). */
export function killCliProcesses(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}
