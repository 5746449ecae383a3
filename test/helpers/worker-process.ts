import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/config/load-dotenv';

export interface WorkerProcess {
  pid: number;
  /** Everything the worker printed, for failure messages. */
  output(): string;
  /** SIGKILL: the crash a fault test wants (no drain, open transactions die with the connection). */
  kill(): Promise<void>;
  /** SIGTERM and wait for a graceful exit. */
  stop(): Promise<void>;
}

/**
 * The real worker entry point (`src/worker/main.ts`) as a child process on a given task queue and database,
 * ready once it logs "worker started". For fault tests that kill and replace workers.
 *
 * @example
 * const worker = await startWorkerProcess({ taskQueue, databaseUrl });
 * await worker.kill();
 */
export async function startWorkerProcess(options: {
  taskQueue: string;
  databaseUrl: string;
  /** More environment for the worker, e.g. `TEMPORAL_ADDRESS` of a Temporal server of the test's own. */
  env?: Record<string, string>;
}): Promise<WorkerProcess> {
  // Node itself with tsx as an import hook, not the `tsx` wrapper: the wrapper runs the worker as a child of
  // its own, and a SIGKILL of the wrapper would leave that worker running, so no crash would happen.
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(projectRoot, 'src', 'worker', 'main.ts')],
    {
      env: {
        ...process.env,
        ROLLOUT_TASK_QUEUE: options.taskQueue,
        DATABASE_URL: options.databaseUrl,
        LOG_LEVEL: 'info',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within 60 s:\n${output}`)), 60_000);
    const check = () => {
      if (output.includes('"worker started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before starting:\n${output}`));
    });
  });

  return {
    pid: child.pid!,
    output: () => output,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
      if (isAlive(child.pid!)) throw new Error(`worker ${child.pid} survived SIGKILL`);
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
