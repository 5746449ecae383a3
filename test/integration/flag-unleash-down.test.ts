import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { setConfig } from '../../db/runtime-config-queries';
import { readEnv, type Env } from '../../src/config/env';
import { createUnifiedConfigFlag, type UnifiedConfigFlag } from '../../src/flags/unified-config-flag';
import { createSecretBox } from '../../src/secrets/secret-box';
import { eventually } from '../helpers/reader-process';
import { call, startServiceHarness, type ServiceHarness } from '../helpers/service-harness';
import { startServiceProcess } from '../helpers/service-process';
import { setFlagPercent, startOwnUnleash, uniqueFlagName, type OwnUnleash } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { evaluateOncePropagated } from '../helpers/unleash-evaluation';

/**
 * Unleash goes down (an Unleash server of this test's own, stopped; the shared one is never touched): every
 * process keeps serving the last state it knew, and a process started while it is down loads that state
 * from the backup file, in this process and as a fresh `src/service/main.ts`.
 */

const USERS = Array.from({ length: 120 }, (_unused, index) => `down-user-${index}`);
const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

let env: Env;
let unleash: OwnUnleash;
let t: TestDatabase;
let flagName: string;
let backupDir: string;
let expected: Set<string>;
let liveFlag: UnifiedConfigFlag;
let harness: ServiceHarness;
const cleanups: (() => unknown)[] = [];

function newFlag(dir: string): UnifiedConfigFlag {
  const flag = createUnifiedConfigFlag({
    unleashUrl: unleash.url,
    clientToken: env.UNLEASH_CLIENT_TOKEN,
    flagName,
    backupDir: dir,
    refreshIntervalMs: 500,
    timeoutMs: 1_000,
    sendUsageMetrics: false,
    registry: new Registry(),
  });
  cleanups.push(() => flag.close());
  flag.start();
  return flag;
}

function unifiedUsers(flag: UnifiedConfigFlag): Set<string> {
  return new Set(USERS.filter((user) => flag.decide(user).path === 'unified'));
}

beforeAll(async () => {
  env = readEnv();
  unleash = await startOwnUnleash(env);
  t = await createTestDatabase('flag_unleash_down');
  await setConfig(t.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
  flagName = uniqueFlagName('down');
  await setFlagPercent(env, flagName, 50, unleash.url);
  const reference = await evaluateOncePropagated({ ...env, UNLEASH_URL: unleash.url }, flagName, USERS, 50);
  expect(reference.clientPercent).toBe('50');
  expected = reference.enabled;
  backupDir = mkdtempSync(path.join(os.tmpdir(), 'flag-down-'));
  liveFlag = newFlag(backupDir);
  expect(await liveFlag.whenReady(15_000)).toBe(true);
  harness = await startServiceHarness({ databaseUrl: t.url, secretBox, flagName, unleashUrl: unleash.url });
}, 240_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await harness?.close();
  await unleash?.dispose();
  await t?.drop();
  if (backupDir) rmSync(backupDir, { recursive: true, force: true });
});

describe('Unleash down', () => {
  it('serves the 50 % cohort unleash-client computes while Unleash is up', async () => {
    expect(unifiedUsers(liveFlag)).toEqual(expected);
    for (const user of USERS.slice(0, 20)) {
      const response = await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-config-path')).toBe(expected.has(user) ? 'unified' : 'legacy');
    }
  });

  it('keeps serving the last known state, without errors, once Unleash is stopped', async () => {
    await unleash.stop();
    await eventually(() => liveFlag.status().reachable === false, 'the flag notices Unleash is gone');
    await eventually(() => harness.flag.status().reachable === false, "the service's flag notices too");
    expect(unifiedUsers(liveFlag)).toEqual(expected);
    expect(liveFlag.status()).toMatchObject({ ready: true, origin: 'live' });
    for (const user of USERS) {
      const response = await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user });
      expect({ user, status: response.status, path: response.headers.get('x-config-path') }).toEqual({
        user,
        status: 200,
        path: expected.has(user) ? 'unified' : 'legacy',
      });
    }
    const ready = await call(harness.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ flag: { ok: true, origin: 'live', reachable: false } });
  });

  it('a new flag instance started while Unleash is down loads the last state from the backup file', async () => {
    const restarted = newFlag(backupDir);
    expect(await restarted.whenReady(10_000)).toBe(true);
    expect(restarted.status()).toMatchObject({ origin: 'backup', ready: true, defined: true });
    expect(unifiedUsers(restarted)).toEqual(expected);
    expect(restarted.decide(USERS[0])).toMatchObject({ source: 'unleash' });
  });

  it('a new service process started while Unleash is down serves the same cohort from the backup', async () => {
    const child = await startServiceProcess(
      {
        DATABASE_URL: t.url,
        UNLEASH_URL: unleash.url,
        UNLEASH_BACKUP_DIR: backupDir,
        UNIFIED_CONFIG_FLAG: flagName,
        ENABLE_UNIFIED_CONFIG: '',
        UNLEASH_REFRESH_INTERVAL_MS: '1000',
      },
      { waitUntilReady: true },
    );
    try {
      const ready = await call(child.url, 'GET', '/readyz');
      expect(ready.json).toMatchObject({ ready: true, flag: { origin: 'backup' } });
      for (const user of USERS) {
        const response = await call(child.url, 'GET', '/api/config/max_tokens', { userId: user });
        expect({ user, status: response.status, path: response.headers.get('x-config-path') }).toEqual({
          user,
          status: 200,
          path: expected.has(user) ? 'unified' : 'legacy',
        });
      }
    } finally {
      expect(await child.stop()).toBe(0);
    }
    // No error logged; at most one warning that Unleash is unreachable (repeats are suppressed; the first
    // fetch may still be retrying when the test ends).
    const lines = child
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
    expect(lines.filter((line) => /cannot reach Unleash/.test(line.msg)).length).toBeLessThanOrEqual(1);
    expect(lines.some((line) => line.msg === 'unified config flag state loaded')).toBe(true);
  });

  it('with neither Unleash nor a backup, a new instance serves everyone the legacy default', async () => {
    const emptyDir = mkdtempSync(path.join(os.tmpdir(), 'flag-down-empty-'));
    cleanups.push(() => rmSync(emptyDir, { recursive: true, force: true }));
    const cold = newFlag(emptyDir);
    expect(await cold.whenReady(2_500)).toBe(false);
    expect(USERS.every((user) => cold.decide(user).path === 'legacy')).toBe(true);
    expect(cold.decide(USERS[0])).toEqual({ path: 'legacy', source: 'default' });
    expect(cold.status()).toMatchObject({ ready: false, origin: 'none' });
  });

  it('picks up changes again once Unleash is back', async () => {
    await unleash.start();
    await setFlagPercent(env, flagName, 100, unleash.url);
    await eventually(
      () => USERS.every((user) => liveFlag.decide(user).path === 'unified'),
      'the running flag sees 100 %',
      30_000,
    );
    expect(liveFlag.status()).toMatchObject({ origin: 'live', reachable: true });
  });
});
