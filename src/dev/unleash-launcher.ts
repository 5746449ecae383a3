/**
 * The local Unleash the stack manager starts (src/dev/unleash-dev-server.ts): the pinned `unleash-server`
 * package, run through its programmatic API so that nobody can log in with a password and it listens on
 * loopback only. API tokens (INIT_ADMIN_API_TOKENS, INIT_BACKEND_API_TOKENS) work as with `dist/server.js`.
 *
 * Usage: `node --import tsx src/dev/unleash-launcher.ts <unleash-server>/dist/lib/server-impl.js`, with
 * Unleash's own variables (DATABASE_URL, HTTP_PORT, INIT_*_API_TOKENS, ...) in the environment.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import type * as UnleashServer from 'unleash-server';
import { z } from 'zod';

type UnleashModule = typeof UnleashServer;
type IUnleash = UnleashServer.IUnleash;

/** Loopback only: the local stack is for this machine, whatever its network. */
const UNLEASH_LISTEN_HOST = '127.0.0.1';

/** Unleash's setting behind "password based login" (`simpleAuthSettingsKey`, not exported by the package). */
const PASSWORD_LOGIN_SETTING = 'unleash.auth.simple';

/** The user Unleash creates with the password `unleash4all` on a database without users. */
const DEFAULT_ADMIN_USERNAME = 'admin';

const launcherEnv = z.object({
  HTTP_PORT: z.coerce.number().int().min(1).max(65_535),
  DATABASE_URL: z.string().min(1, 'must name the Unleash database'),
  INIT_ADMIN_API_TOKENS: z.string().min(1, 'must hold the admin API token'),
});

/** Unleash requires a strong password (OWASP test: classes of characters, no character three times in a row). */
function unguessablePassword(): string {
  for (;;) {
    const password = `Aa1!${randomBytes(32).toString('base64url')}`;
    if (!/(.)\1\1/.test(password)) return password;
  }
}

/**
 * Turns password login off and gives the default admin (left by an earlier start on this database, when
 * Unleash still created it) a random password nobody learns, ending its sessions. Runs before the server
 * listens, so no request ever sees the old state.
 */
async function lockOutPasswordLogin(unleash: IUnleash, module: UnleashModule): Promise<string[]> {
  const done: string[] = [];
  await unleash.services.settingService.insert(
    PASSWORD_LOGIN_SETTING,
    { disabled: true },
    module.SYSTEM_USER_AUDIT,
  );
  done.push('password login disabled');
  const admin = await unleash.stores.userStore
    .getByQuery({ username: DEFAULT_ADMIN_USERNAME })
    .catch(() => undefined);
  if (admin) {
    await unleash.services.userService.changePassword(admin.id, unguessablePassword(), { logoutUser: true });
    done.push(`user ${DEFAULT_ADMIN_USERNAME} given a random password and logged out`);
  }
  return done;
}

async function main(serverImpl: string | undefined): Promise<void> {
  if (!serverImpl) throw new Error('usage: unleash-launcher <unleash-server>/dist/lib/server-impl.js');
  const settings = launcherEnv.safeParse(process.env);
  if (!settings.success) {
    throw new Error(
      `invalid environment: ${settings.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
    );
  }
  const port = settings.data.HTTP_PORT;
  const module = (await import(pathToFileURL(serverImpl).href)) as UnleashModule;
  // `create` migrates and builds the app without listening, so the lock-out below precedes any request.
  const unleash = await module.create({
    // Explicit, whatever AUTH_TYPE says: `none` or `demo` would let anyone in without a password at all.
    authentication: { type: module.IAuthType.OPEN_SOURCE, enableApiToken: true, createAdminUser: false },
    server: {
      host: UNLEASH_LISTEN_HOST,
      port,
      // Signs session cookies; Unleash's fallback is the public constant `super-secret`.
      secret: randomBytes(32).toString('hex'),
    },
  });
  for (const line of await lockOutPasswordLogin(unleash, module)) console.log(`[unleash-launcher] ${line}`);

  const server = (unleash.app as { listen(port: number, host: string): Server }).listen(
    port,
    UNLEASH_LISTEN_HOST,
  );
  await once(server, 'listening');
  console.log(`[unleash-launcher] listening on ${UNLEASH_LISTEN_HOST}:${port}`);

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(`[unleash-launcher] ${signal}: stopping`);
    server.close();
    server.closeAllConnections();
    await unleash.stop();
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, (s) => void stop(s));
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(
    `[unleash-launcher] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  process.exit(1);
});
