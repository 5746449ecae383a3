import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** v1.6+ cannot be installed with `go install`; this is the newest that can (SPEC §3). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds the Temporal CLI: `$TEMPORAL_CLI`, else `temporal` on PATH, else the copy built into `toolsDir`,
 * building it there with `go install` the first time (a few minutes; needs Go and the Go module proxy).
 *
 * @example
 * const temporal = await locateTemporalCli(path.join(projectRoot, '.tools'), console.error);
 */
export async function locateTemporalCli(toolsDir: string, log: (line: string) => void): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const found = onPath('temporal');
  if (found) return found;
  const binDir = path.join(toolsDir, 'bin');
  const built = path.join(binDir, 'temporal');
  if (isExecutable(built)) return built;

  const go = onPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) {
    throw new Error(
      'Temporal CLI not found: set TEMPORAL_CLI, put `temporal` on PATH, or install Go 1.25+ so it can be built',
    );
  }
  mkdirSync(binDir, { recursive: true });
  return buildTemporalCli(go, binDir, log);
}

/** What `go install -v` is doing, from its output lines: module downloads, then one line per package built. */
export class GoBuildProgress {
  modules = 0;
  packages = 0;
  last: string | null = null;

  /** Takes one output line; returns a line worth logging at once (the start of a step), if any. */
  take(line: string): string | undefined {
    const text = line.trim();
    const download = /^go: downloading (\S+) (\S+)/.exec(text);
    if (download) {
      this.modules++;
      this.last = `${download[1]} ${download[2]}`;
      return this.modules === 1 ? 'downloading Go modules (once; cached afterwards)' : undefined;
    }
    // `-v` prints each package's import path as it is built; anything else (errors, notes) is kept for errors.
    if (/^[a-z0-9][\w.-]*(\.[a-z]+)?(\/[\w.~+-]+)*$/i.test(text) && !text.startsWith('go:')) {
      this.packages++;
      this.last = text;
      return this.packages === 1 ? 'compiling packages' : undefined;
    }
    return undefined;
  }

  /** `2m 10s: 212 modules downloaded, 431 packages compiled (last: go.temporal.io/server/common)` */
  summary(elapsedMs: number): string {
    const seconds = Math.round(elapsedMs / 1000);
    const elapsed =
      seconds >= 60
        ? `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`
        : `${seconds}s`;
    const last = this.last ? ` (last: ${this.last})` : '';
    // go prints nothing while it resolves the module graph, reads its build cache or links.
    if (this.modules === 0 && this.packages === 0)
      return `${elapsed}: nothing downloaded or compiled yet (resolving, reading the build cache or linking)`;
    return `${elapsed}: ${this.modules} modules downloaded, ${this.packages} packages compiled${last}`;
  }
}

export interface BuildOptions {
  /** How often to log the elapsed time and counts (default 10 s). */
  tickMs?: number;
  timeoutMs?: number;
}

/**
 * Builds the Temporal CLI with `go install -v` into `binDir`, logging what it does: each step as it starts
 * (downloading modules, compiling packages) and every `tickMs` the elapsed time with the counts so far, so
 * the first `npm run demo` on a new machine (minutes of building) does not look hung.
 *
 * @example
 * await buildTemporalCli('/usr/local/go/bin/go', '.tools/bin', (line) => console.error(`[stack] ${line}`));
 */
export async function buildTemporalCli(
  go: string,
  binDir: string,
  log: (line: string) => void,
  options: BuildOptions = {},
): Promise<string> {
  const built = path.join(binDir, 'temporal');
  const started = Date.now();
  log(
    `building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${binDir} with ${go}; the first build takes a few minutes`,
  );
  const progress = new GoBuildProgress();
  let tail = '';
  const child = spawn(go, ['install', '-v', TEMPORAL_CLI_MODULE], {
    env: { ...process.env, GOBIN: binDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onLine = (line: string) => {
    tail = `${tail}${line}\n`.slice(-4000);
    const step = progress.take(line);
    if (step) log(`${step} (${progress.summary(Date.now() - started)})`);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const ticker = setInterval(
    () => log(`still building the Temporal CLI, ${progress.summary(Date.now() - started)}`),
    options.tickMs ?? 10_000,
  );
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.once('error', reject);
        child.once('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
      },
    ).catch((error: unknown) => {
      throw new Error(`building the Temporal CLI failed: cannot run ${go}: ${String(error)}`, {
        cause: error,
      });
    });
    if (code !== 0) {
      const why =
        signal === 'SIGKILL' ? `timed out after ${timeoutMs / 1000} s` : `go exited with ${code ?? signal}`;
      throw new Error(`building the Temporal CLI failed (${why}):\n${tail}`);
    }
  } finally {
    clearInterval(ticker);
    clearTimeout(timer);
  }
  if (!isExecutable(built)) throw new Error(`go install succeeded but ${built} is missing`);
  log(`built the Temporal CLI in ${progress.summary(Date.now() - started)}`);
  return built;
}
