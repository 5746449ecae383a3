import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ConfigValue } from '../../src/config-values/typed-value';

export interface ReaderChildConfig {
  databaseUrl: string;
  transport: 'postgres' | 'redis' | 'none';
  redisUrl?: string;
  channel?: string;
  /** Listener `application_name` (Postgres) or subscriber connection name (Redis). */
  listenerName?: string;
  ttlMs: number;
  keys: string[];
  userId?: string;
  /** Periodic re-read of every key, besides the re-read after each invalidation. */
  pollMs: number;
}

export type ReaderChildLine =
  | { type: 'ready'; t: number }
  | { type: 'value'; key: string; t: number; value?: ConfigValue; error?: string }
  | { type: 'fatal'; message: string };

/**
 * Milliseconds on CLOCK_MONOTONIC (`process.hrtime`), which on Linux is one clock for every process on the
 * host: timestamps from different processes compare directly, at nanosecond resolution, and no NTP step
 * can move them (unlike `performance.timeOrigin + performance.now()`, whose origin is wall-clock time
 * sampled once per process).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface ReaderProcess {
  readonly pid: number;
  /** Every value line, in arrival order. */
  readonly values: Extract<ReaderChildLine, { type: 'value' }>[];
  /** The latest value line per key. */
  latest(key: string): Extract<ReaderChildLine, { type: 'value' }> | undefined;
  /** Polls (every 10 ms) until the child has reported `value` for `key`; rejects after `timeoutMs`. */
  waitForValue(key: string, value: ConfigValue | undefined, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

const TSX = path.resolve(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
const CHILD_SCRIPT = path.join(__dirname, 'reader-child.ts');

/**
 * Starts a reader in another process and resolves once it has subscribed and read every key.
 *
 * @example
 * const child = await startReaderProcess({ databaseUrl: t.url, transport: 'postgres', ttlMs: 60_000,
 *   keys: ['max_tokens'], pollMs: 50 });
 * await child.waitForValue('max_tokens', 512);
 * await child.stop();
 */
export function startReaderProcess(
  config: ReaderChildConfig,
  startTimeoutMs = 30_000,
): Promise<ReaderProcess> {
  const child: ChildProcess = spawn(TSX, [CHILD_SCRIPT], {
    env: { ...process.env, READER_CHILD_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const values: Extract<ReaderChildLine, { type: 'value' }>[] = [];
  const latest = new Map<string, Extract<ReaderChildLine, { type: 'value' }>>();
  let stderr = '';
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const process_: ReaderProcess = {
    pid: child.pid ?? -1,
    values,
    latest: (key) => latest.get(key),
    async waitForValue(key, value, timeoutMs = 15_000) {
      const wanted = JSON.stringify(value);
      const deadline = Date.now() + timeoutMs;
      while (JSON.stringify(latest.get(key)?.value) !== wanted || latest.get(key)?.error !== undefined) {
        if (exited) throw new Error(`reader process exited while waiting for ${key}: ${stderr.slice(-2000)}`);
        if (Date.now() > deadline) {
          throw new Error(
            `reader process did not report ${key} = ${wanted} within ${timeoutMs} ms ` +
              `(latest: ${JSON.stringify(latest.get(key))})`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };

  return new Promise<ReaderProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`reader process did not become ready within ${startTimeoutMs} ms: ${stderr.slice(-2000)}`),
      );
    }, startTimeoutMs);
    let buffered = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (text.trim() === '') continue;
        const line = JSON.parse(text) as ReaderChildLine;
        if (line.type === 'value') {
          values.push(line);
          latest.set(line.key, line);
        } else if (line.type === 'ready') {
          clearTimeout(timer);
          resolve(process_);
        } else {
          clearTimeout(timer);
          reject(new Error(`reader process failed: ${line.message}`));
        }
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-10_000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(`reader process exited with code ${code} before it was ready: ${stderr.slice(-2000)}`),
      );
    });
  });
}

/**
 * Polls `check` every 10 ms until it returns true; rejects naming `what` after `timeoutMs`. A bounded wait,
 * never an assertion on speed.
 *
 * @example
 * await eventually(async () => (await reader.get('max_tokens')) === 512, 'the reader sees max_tokens = 512');
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
