import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createDatabaseIfMissing, dropDatabase } from '../../db/database-admin';
import { readEnv, type Env } from '../../src/config/env';
import { projectRoot } from '../../src/config/load-dotenv';
import { ManagedProcesses } from '../../src/dev/managed-process';
import { ensureUnleash } from '../../src/dev/unleash-dev-server';
import { waitUntilHealthy } from '../../src/dev/wait-until-healthy';
import { nonLoopbackAddresses, tcpListenAddresses, tryConnect } from '../helpers/listening-sockets';
import { freePort } from '../helpers/service-unleash';

/**
 * The local Unleash (src/dev/unleash-launcher.ts) lets nobody in with a password, least of all Unleash's
 * well-known default admin / unleash4all, and listens on 127.0.0.1 only; API tokens keep working.
 */

const UNLEASH_ENTRY = path.join(projectRoot, 'node_modules', 'unleash-server', 'dist', 'server.js');
const DEFAULT_LOGIN = { username: 'admin', password: 'unleash4all' };

async function loginAsDefaultAdmin(url: string): Promise<{ status: number; body: string; cookie: string }> {
  const response = await fetch(new URL('/auth/simple/login', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(DEFAULT_LOGIN),
    signal: AbortSignal.timeout(10_000),
  });
  return {
    status: response.status,
    body: await response.text(),
    cookie: response.headers.get('set-cookie') ?? '',
  };
}

async function statusWithToken(url: string, route: string, token: string): Promise<number> {
  const response = await fetch(new URL(route, url), {
    headers: { authorization: token },
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response.status;
}

async function expectLockedDown(url: string, env: Env): Promise<void> {
  const login = await loginAsDefaultAdmin(url);
  // 422 DisabledError: Unleash refuses every password login before it even looks at the password.
  expect({ status: login.status, sessionCookie: login.cookie.includes('unleash-session') }).toEqual({
    status: 422,
    sessionCookie: false,
  });
  expect(login.body).toMatch(/password has been disabled/);

  expect(await statusWithToken(url, '/api/admin/projects', env.UNLEASH_ADMIN_TOKEN)).toBe(200);
  expect(await statusWithToken(url, '/api/client/features', env.UNLEASH_CLIENT_TOKEN)).toBe(200);

  const port = Number(new URL(url).port);
  expect(tcpListenAddresses(port)).toEqual(['127.0.0.1']);
  for (const address of nonLoopbackAddresses()) {
    expect({ address, result: await tryConnect(address, port) }).toEqual({ address, result: 'ECONNREFUSED' });
  }
}

let env: Env;
beforeAll(() => {
  env = readEnv();
});

test('the shared local Unleash refuses admin / unleash4all and listens on 127.0.0.1 only', async () => {
  await expectLockedDown(env.UNLEASH_URL, env);
});

describe('an Unleash database where an earlier start created admin / unleash4all', () => {
  let stateDir: string;
  let databaseUrl: string;
  let processes: ManagedProcesses;

  beforeAll(() => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'unleash-lockout-'));
    processes = new ManagedProcesses(stateDir);
    const url = new URL(env.UNLEASH_DATABASE_URL);
    url.pathname = `/unleash_lockout_${process.pid}`;
    databaseUrl = url.toString();
  });

  afterAll(async () => {
    await processes.stop('unleash-plain', 5_000);
    await processes.stop('unleash', 5_000);
    await dropDatabase(databaseUrl).catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function adminPasswordHash(): Promise<string> {
    const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      const result = await client.query<{ password_hash: string }>(
        'SELECT password_hash FROM users WHERE username = $1',
        [DEFAULT_LOGIN.username],
      );
      return result.rows[0]?.password_hash ?? '(no admin user)';
    } finally {
      await client.end();
    }
  }

  test('is locked out once the stack manager starts Unleash on it', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const target = {
      url,
      databaseUrl,
      adminToken: env.UNLEASH_ADMIN_TOKEN,
      clientToken: env.UNLEASH_CLIENT_TOKEN,
    };

    // The fault: unleash-server started plainly, as before, creates admin / unleash4all and lets it in.
    await createDatabaseIfMissing(databaseUrl);
    processes.start({
      name: 'unleash-plain',
      command: process.execPath,
      args: [UNLEASH_ENTRY],
      env: {
        PATH: process.env.PATH,
        TZ: 'UTC',
        NODE_ENV: 'production',
        DATABASE_URL: databaseUrl,
        DATABASE_SSL: 'false',
        HTTP_PORT: String(port),
        INIT_ADMIN_API_TOKENS: env.UNLEASH_ADMIN_TOKEN,
        INIT_BACKEND_API_TOKENS: env.UNLEASH_CLIENT_TOKEN,
        CHECK_VERSION: 'false',
        SEND_TELEMETRY: 'false',
        LOG_LEVEL: 'warn',
      },
    });
    await waitUntilHealthy(
      async () => (await fetch(new URL('/health', url), { signal: AbortSignal.timeout(2_000) })).ok,
      {
        component: `plain Unleash at ${url}`,
        timeoutMs: 180_000,
        stillWorthWaiting: () =>
          processes.isRunning('unleash-plain') || `it exited; log:\n${processes.logTail('unleash-plain')}`,
      },
    );
    const before = await loginAsDefaultAdmin(url);
    expect({ status: before.status, sessionCookie: before.cookie.includes('unleash-session') }).toEqual({
      status: 200,
      sessionCookie: true,
    });
    const hashBefore = await adminPasswordHash();
    expect((await processes.stop('unleash-plain', 10_000)).status).toBe('stopped');

    // The stack manager's start on the same database.
    expect(await ensureUnleash(target, processes, UNLEASH_ENTRY, () => undefined)).toBe(true);
    await expectLockedDown(url, env);
    // Even with password login turned back on, the old password would no longer match.
    expect(await adminPasswordHash()).not.toBe(hashBefore);
    // The same session cookie no longer opens the admin API.
    const sessionCookie = before.cookie.split(';')[0] ?? '';
    const withOldSession = await fetch(new URL('/api/admin/projects', url), {
      headers: { cookie: sessionCookie },
      signal: AbortSignal.timeout(10_000),
    });
    expect(withOldSession.status).toBe(401);
  }, 400_000);
});
