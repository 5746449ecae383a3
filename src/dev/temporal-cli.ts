import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

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
  log(
    `building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${binDir}; the first build takes a few minutes`,
  );
  try {
    await execFileAsync(go, ['install', TEMPORAL_CLI_MODULE], {
      env: { ...process.env, GOBIN: binDir },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 30 * 60_000,
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`building the Temporal CLI failed: ${String(error)}\n${stderr.slice(-4000)}`, {
      cause: error,
    });
  }
  if (!isExecutable(built)) throw new Error(`go install succeeded but ${built} is missing`);
  return built;
}
