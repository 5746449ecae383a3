import { createDatabaseIfMissing } from '../../db/database-admin';
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
 * Reuses an Unleash server that answers at `target.url`, else starts the pinned `unleash-server` package
 * on its own database with API tokens from env and authentication on. Returns true when it started one.
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
    await createDatabaseIfMissing(target.databaseUrl);
    log(`starting ${component}`);
    const port = new URL(target.url).port || '4242';
    processes.start({
      name: 'unleash',
      command: process.execPath,
      args: [unleashEntry],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TZ: 'UTC',
        NODE_ENV: 'production',
        DATABASE_URL: target.databaseUrl,
        DATABASE_SSL: 'false',
        HTTP_PORT: port,
        // Tokens only: the default admin user would be a known password on a shared machine.
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
  return started;
}
