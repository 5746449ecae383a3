import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../src/config/load-dotenv';
import { freePort } from './service-unleash';
import { TEST_SERVICE_API_TOKENS } from './service-tokens';

export interface ServiceProcess {
  pid: number;
  url: string;
  /** Everything the process printed (its JSON logs), for assertions and failure messages. */
  output(): string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | string>;
}

/**
 * The real entry point (`src/service/main.ts`) as a child process: `node --import tsx`, so signals reach the
 * service itself and not a wrapper. Listens on a free port; resolves once it logs that it listens, or once
 * `/readyz` answers 200 when `waitUntilReady` is set. Its callers are the test tokens (TEST_TOKENS) unless
 * `env` sets SERVICE_API_TOKENS.
 *
 * @example
 * const child = await startServiceProcess({ DATABASE_URL: t.url }, { waitUntilReady: true });
 * expect(await child.stop()).toBe(0);
 */
export async function startServiceProcess(
  env: Record<string, string>,
  options: { waitUntilReady?: boolean; timeoutMs?: number; nodeArgs?: string[] } = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', path.join(projectRoot, 'src', 'service', 'main.ts')],
    {
      cwd: projectRoot,
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        // The test tokens (service-tokens.ts), so `call` and the helpers' default token work against it.
        SERVICE_API_TOKENS: TEST_SERVICE_API_TOKENS,
        ...env,
        CONFIG_SERVICE_ADDRESS: `127.0.0.1:${port}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let exitedYet = false;
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      exitedYet = true;
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const isUp = async (): Promise<boolean> => {
    if (!options.waitUntilReady) return output.includes('"config service listening"');
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(
      () => undefined,
    );
    return response?.status === 200;
  };
  while (!(await isUp())) {
    if (exitedYet) throw new Error(`config service exited before it was up:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`config service was not up within ${options.timeoutMs ?? 60_000} ms:\n${output}`);
    }
    await sleep(100);
  }
  return {
    pid: child.pid ?? -1,
    url,
    output: () => output,
    exited,
    signal: (signal) => child.kill(signal),
    stop: async () => {
      if (!exitedYet) child.kill('SIGTERM');
      return exited;
    },
  };
}
