import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { readEnv, type Env } from '../../src/config/env';
import { createUnifiedConfigFlag, type UnifiedConfigFlag } from '../../src/flags/unified-config-flag';
import { evaluateOncePropagated } from '../helpers/unleash-evaluation';
import { eventually } from '../helpers/reader-process';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';

/**
 * The flag against the real Unleash: per user it must agree exactly with a plain unleash-client evaluating
 * the same flag (the strategy the rollout writes: flexibleRollout, stickiness userId, fixed groupId).
 */

const USERS = Array.from({ length: 400 }, (_unused, index) => `flag-user-${index}`);

let env: Env;
let flagName: string;
let backupDir: string;
let registry: Registry;
let flag: UnifiedConfigFlag;
let expectedAt50: Set<string>;

async function evaluationCounts(): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('config_flag_evaluations_total')?.get();
  return Object.fromEntries(
    (metric?.values ?? []).map((v) => [`${String(v.labels.result)}/${String(v.labels.source)}`, v.value]),
  );
}

beforeAll(async () => {
  env = readEnv();
  flagName = uniqueFlagName('flag');
  await setFlagPercent(env, flagName, 50);
  const reference = await evaluateOncePropagated(env, flagName, USERS, 50);
  expect(reference.clientPercent).toBe('50');
  expectedAt50 = reference.enabled;
  backupDir = mkdtempSync(path.join(os.tmpdir(), 'flag-it-'));
  registry = new Registry();
  flag = createUnifiedConfigFlag({
    unleashUrl: env.UNLEASH_URL,
    clientToken: env.UNLEASH_CLIENT_TOKEN,
    flagName,
    backupDir,
    refreshIntervalMs: 1_000,
    sendUsageMetrics: false,
    registry,
  });
  flag.start();
  expect(await flag.whenReady(15_000)).toBe(true);
});

afterAll(async () => {
  flag?.close();
  if (backupDir) rmSync(backupDir, { recursive: true, force: true });
  if (flagName) await archiveFlag(env, flagName);
});

describe('unified config flag on the real Unleash', () => {
  it('decides per user exactly as unleash-client evaluates the flag at 50 %', async () => {
    expect(flag.status()).toMatchObject({ origin: 'live', ready: true, defined: true, reachable: true });
    const unified = USERS.filter((user) => flag.decide(user).path === 'unified');
    expect(new Set(unified)).toEqual(expectedAt50);
    // 50 % of 400 by a hash: a wide band, but it proves both halves exist.
    expect(unified.length).toBeGreaterThan(140);
    expect(unified.length).toBeLessThan(260);
    expect(flag.decide(USERS[0])).toMatchObject({ source: 'unleash' });
    expect(USERS.every((user) => flag.isEnabledFor(user) === expectedAt50.has(user))).toBe(true);
  });

  it('counts evaluations by result and source, with no user label', async () => {
    const before = await evaluationCounts();
    for (const user of USERS) flag.decide(user);
    const after = await evaluationCounts();
    expect((after['unified/unleash'] ?? 0) - (before['unified/unleash'] ?? 0)).toBe(expectedAt50.size);
    expect((after['legacy/unleash'] ?? 0) - (before['legacy/unleash'] ?? 0)).toBe(
      USERS.length - expectedAt50.size,
    );
    const exposition = await registry.metrics();
    expect(exposition).toContain('config_flag_evaluations_total{result="unified",source="unleash"}');
    expect(exposition).not.toMatch(/flag-user-/);
    expect(exposition).not.toMatch(/user_?id/i);
  });

  it('sends an anonymous request (no user id) to the legacy path', () => {
    expect(flag.decide(undefined)).toEqual({ path: 'legacy', source: 'unleash' });
  });

  it('writes the state it received to the backup file, complete at every moment', async () => {
    const file = path.join(backupDir, 'unleash-backup-config-service.json');
    // Written after the state is applied; by rename, so once it exists it is complete.
    await eventually(() => existsSync(file), 'the backup file exists');
    const backup = JSON.parse(readFileSync(file, 'utf8')) as { features: { name: string }[] };
    expect(backup.features.map((feature) => feature.name)).toContain(flagName);
    expect(readdirSync(backupDir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('follows a ramp: the 50 % cohort stays in at 100 %, and 0 % sends everyone back', async () => {
    await setFlagPercent(env, flagName, 100);
    await eventually(
      () => USERS.every((user) => flag.decide(user).path === 'unified'),
      'everyone unified at 100 %',
    );
    await setFlagPercent(env, flagName, 0);
    await eventually(
      () => USERS.every((user) => flag.decide(user).path === 'legacy'),
      'everyone legacy at 0 %',
    );
    await setFlagPercent(env, flagName, 50);
    await eventually(
      () => USERS.every((user) => flag.isEnabledFor(user) === expectedAt50.has(user)),
      'the same 50 % cohort again',
    );
  });
});
