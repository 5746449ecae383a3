import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Env } from '../../src/config/env';
import { projectRoot } from '../../src/config/load-dotenv';
import { ManagedProcesses } from '../../src/dev/managed-process';
import { ensureUnleash } from '../../src/dev/unleash-dev-server';
import { UnleashAdminClient, type FlagTarget } from '../../src/unleash/unleash-admin-client';

/** A flag name no other test uses. */
export function uniqueFlagName(label: string): string {
  return `svc-${label}-${randomBytes(4).toString('hex')}`;
}

export function flagTarget(flag: string): FlagTarget {
  return { project: 'default', environment: 'development', flag };
}

/** Sets the flag's rollout strategy to `percent` (creating the flag) on the Unleash at `url`. */
export async function setFlagPercent(
  env: Env,
  flag: string,
  percent: number,
  url = env.UNLEASH_URL,
): Promise<void> {
  const admin = new UnleashAdminClient({ url, adminToken: env.UNLEASH_ADMIN_TOKEN });
  await admin.setRolloutPercent(flagTarget(flag), percent);
}

/** Archives a test flag; best effort, so a failing cleanup never hides the test's own result. */
export async function archiveFlag(env: Env, flag: string, url = env.UNLEASH_URL): Promise<void> {
  await fetch(new URL(`/api/admin/projects/default/features/${encodeURIComponent(flag)}`, url), {
    method: 'DELETE',
    headers: { authorization: env.UNLEASH_ADMIN_TOKEN },
    signal: AbortSignal.timeout(5_000),
  }).catch(() => undefined);
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface OwnUnleash {
  url: string;
  isRunning(): boolean;
  /** Starts (again) on the same port and database; flags made before a stop are still there. */
  start(): Promise<void>;
  /** Stops this instance only (its own process group, by the pid it recorded). */
  stop(): Promise<void>;
  /** Stops it and removes its state directory. */
  dispose(): Promise<void>;
}

/**
 * An Unleash server of this test's own, on a free port and its own database (`unleash_flagtest`), with the
 * same API tokens as the shared one: a test may stop it to simulate "Unleash is down" without touching the
 * instance every other test uses.
 *
 * @example
 * const unleash = await startOwnUnleash(env);
 * await unleash.stop(); // only this one
 */
export async function startOwnUnleash(env: Env): Promise<OwnUnleash> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'own-unleash-'));
  const processes = new ManagedProcesses(stateDir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const databaseUrl = new URL(env.UNLEASH_DATABASE_URL);
  databaseUrl.pathname = '/unleash_flagtest';
  const target = {
    url,
    databaseUrl: databaseUrl.toString(),
    adminToken: env.UNLEASH_ADMIN_TOKEN,
    clientToken: env.UNLEASH_CLIENT_TOKEN,
  };
  const entry = path.join(projectRoot, 'node_modules', 'unleash-server', 'dist', 'server.js');
  const own: OwnUnleash = {
    url,
    isRunning: () => processes.isRunning('unleash'),
    async start() {
      const started = await ensureUnleash(target, processes, entry, () => undefined);
      if (!started)
        throw new Error(`something else already answers at ${url}; refusing to use it as our own`);
    },
    async stop() {
      await processes.stop('unleash');
    },
    async dispose() {
      await processes.stop('unleash');
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  await own.start();
  return own;
}
