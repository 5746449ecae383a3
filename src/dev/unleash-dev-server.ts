import path from 'node:path';
import { createDatabaseIfMissing } from '../../db/database-admin';
import { projectRoot } from '../config/load-dotenv';
import type { ManagedProcesses } from './managed-process';
import { waitUntilHealthy } from './wait-until-healthy';

export interface UnleashTarget {
  url: string;
  databaseUrl: string;
  adminToken: string;
  clientToken: string;
}

async function isHealthy(url: string): Promise<boolean> {
  const response = await fetch(new URL('/health', url), { signal: AbortSignal.timeout(2_000) });
  return response.ok;
}

/** A healthy server that rejects our admin token is a configuration error, not something to wait out. */
async function checkAdminToken(target: UnleashTarget): Promise<void> {
  const response = await fetch(new URL('/api/admin/projects', target.url), {
    headers: { authorization: target.adminToken },
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) {
    throw new Error(
      `Unleash at ${target.url} answers but rejects UNLEASH_ADMIN_TOKEN (HTTP ${response.status}); ` +
        'it was started with other tokens: stop it or set the tokens it uses',
    );
  }
}

/**
 * Password login must be off (src/dev/unleash-launcher.ts turns it off): a server started another way, e.g.
 * by an older stack manager, still lets anyone in as admin / unleash4all.
 */
async function checkPasswordLoginOff(target: UnleashTarget): Promise<void> {
  const response = await fetch(new URL('/api/admin/ui-config', target.url), {
    headers: { authorization: target.adminToken },
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) {
    throw new Error(
      `Unleash at ${target.url}: reading /api/admin/ui-config failed (HTTP ${response.status})`,
    );
  }
  const config = (await response.json()) as { disablePasswordAuth?: unknown };
  if (config.disablePasswordAuth !== true) {
    throw new Error(
      `Unleash at ${target.url} allows password login (the default admin / unleash4all may work): it was not ` +
        'started by this stack manager; stop it (`npm run stack:down` if this project started it) and start again',
    );
  }
}

/** The launcher binds 127.0.0.1, so a server it starts is reachable at a loopback URL only. */
function isLoopbackUrl(url: string): boolean {
  return ['127.0.0.1', 'localhost'].includes(new URL(url).hostname);
}

/** The launcher as this file's own sibling: `.ts` under tsx and jest, `.js` once compiled. */
function launcherCommand(unleashEntry: string): string[] {
  const launcher = path.join(__dirname, `unleash-launcher${path.extname(__filename)}`);
  const serverImpl = path.join(path.dirname(unleashEntry), 'lib', 'server-impl.js');
  return [...(launcher.endsWith('.ts') ? ['--import', 'tsx'] : []), launcher, serverImpl];
}

/**
 * Reuses an Unleash server that answers at `target.url`, else starts the pinned `unleash-server` package
 * (`unleashEntry`: its `dist/server.js`) on its own database through src/dev/unleash-launcher.ts: API tokens
 * from env, password login off, listening on 127.0.0.1 only. Returns true when it started one.
 */
export async function ensureUnleash(
  target: UnleashTarget,
  processes: ManagedProcesses,
  unleashEntry: string,
  log: (line: string) => void,
): Promise<boolean> {
  const component = `Unleash at ${target.url}`;
  let started = false;
  if (!(await isHealthy(target.url).catch(() => false))) {
    if (!isLoopbackUrl(target.url)) {
      throw new Error(
        `${component} does not answer, and the stack manager starts Unleash on 127.0.0.1 only: ` +
          'set UNLEASH_URL to http://127.0.0.1:<port> or start that server yourself',
      );
    }
    await createDatabaseIfMissing(target.databaseUrl);
    log(`starting ${component}`);
    const port = new URL(target.url).port || '4242';
    processes.start({
      name: 'unleash',
      command: process.execPath,
      args: launcherCommand(unleashEntry),
      // `--import tsx` resolves from here.
      cwd: projectRoot,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TZ: 'UTC',
        NODE_ENV: 'production',
        DATABASE_URL: target.databaseUrl,
        DATABASE_SSL: 'false',
        HTTP_PORT: port,
        // Tokens in the environment, not the command line: /proc/<pid>/environ is readable by the owner only.
        INIT_ADMIN_API_TOKENS: target.adminToken,
        INIT_BACKEND_API_TOKENS: target.clientToken,
        AUTH_ENABLE_API_TOKEN: 'true',
        CHECK_VERSION: 'false',
        SEND_TELEMETRY: 'false',
        LOG_LEVEL: 'warn',
      },
    });
    started = true;
    await waitUntilHealthy(() => isHealthy(target.url), {
      component,
      // The first start runs Unleash's own schema migrations.
      timeoutMs: 180_000,
      stillWorthWaiting: () =>
        processes.isRunning('unleash') || `it exited; log:\n${processes.logTail('unleash')}`,
    });
  }
  await checkAdminToken(target);
  await checkPasswordLoginOff(target);
  return started;
}
