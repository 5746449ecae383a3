import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { setConfig } from '../../db/runtime-config-queries';
import { readEnv, type Env } from '../../src/config/env';
import { createSecretBox } from '../../src/secrets/secret-box';
import { startConfigService } from '../../src/service/start-config-service';
import { call, startServiceHarness, type ServiceHarness } from '../helpers/service-harness';
import { TEST_TOKENS, testApiTokens } from '../helpers/service-tokens';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { evaluateOncePropagated } from '../helpers/unleash-evaluation';

/**
 * The fault switch: the unified path fails a chosen fraction of requests with HTTP 500, the legacy path is
 * untouched, and /metrics shows it the way a gate reads it (5xx ratio of the unified path).
 */

const USERS = Array.from({ length: 60 }, (_unused, index) => `fault-user-${index}`);
const ADMIN_TOKEN = TEST_TOKENS.admin.token;
const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

let env: Env;
let t: TestDatabase;
let flagName: string;
let harness: ServiceHarness;
let unifiedUsers: string[];
let legacyUsers: string[];

/** What a `metrics` gate computes: 5xx over all requests of the unified path, from one scrape. */
function unifiedErrorRatio(exposition: string): { errors: number; total: number } {
  let errors = 0;
  let total = 0;
  for (const match of exposition.matchAll(
    /^http_request_duration_seconds_count\{[^}]*status_code="(\d+)",config_path="unified"\} (\d+)$/gm,
  )) {
    const count = Number(match[2]);
    total += count;
    if ((match[1] ?? '').startsWith('5')) errors += count;
  }
  return { errors, total };
}

/** `token: null` sends no Authorization header at all. */
const admin = (body: unknown, token: string | null = ADMIN_TOKEN) =>
  call(harness.url, 'POST', '/admin/fault', { body, token });

beforeAll(async () => {
  env = readEnv();
  t = await createTestDatabase('service_fault');
  await setConfig(t.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
  flagName = uniqueFlagName('fault');
  await setFlagPercent(env, flagName, 50);
  const reference = await evaluateOncePropagated(env, flagName, USERS, 50);
  unifiedUsers = USERS.filter((user) => reference.enabled.has(user));
  legacyUsers = USERS.filter((user) => !reference.enabled.has(user));
  harness = await startServiceHarness({
    databaseUrl: t.url,
    secretBox,
    flagName,
    service: { faultRate: 1 },
  });
});

afterAll(async () => {
  await harness?.close();
  await t?.drop();
  if (flagName) await archiveFlag(env, flagName);
});

describe('fault switch', () => {
  it('at rate 1 fails every unified request with a 500 and leaves the legacy path alone', async () => {
    for (const user of unifiedUsers) {
      const response = await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user });
      expect(response.status).toBe(500);
      expect(response.headers.get('x-config-path')).toBe('unified');
      expect(response.json).toEqual({
        error: 'injected fault (the fault switch fails 1 of unified requests)',
      });
    }
    for (const user of legacyUsers) {
      const response = await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user });
      expect(response.status).toBe(200);
    }
    const metrics = (await call(harness.url, 'GET', '/metrics')).text;
    expect(unifiedErrorRatio(metrics)).toEqual({ errors: unifiedUsers.length, total: unifiedUsers.length });
    expect(metrics).toContain(`config_service_injected_faults_total ${unifiedUsers.length}`);
    expect(metrics).toContain('config_service_fault_rate 1');
  });

  it('refuses the admin route without a valid token (401) or without the admin scope (403)', async () => {
    expect((await admin({ rate: 0 }, null)).status).toBe(401);
    expect((await admin({ rate: 0 }, '')).status).toBe(401);
    expect((await admin({ rate: 0 }, 'wrong-token')).status).toBe(401);
    expect((await admin({ rate: 0 }, `${ADMIN_TOKEN}x`)).status).toBe(401);
    const denied = await admin({ rate: 0 }, 'wrong-token-0123456789');
    expect(denied.json).toEqual({ error: 'the bearer token is not one of SERVICE_API_TOKENS' });
    expect(denied.headers.get('www-authenticate')).toBe(
      'Bearer realm="config-service", error="invalid_token"',
    );
    for (const other of [TEST_TOKENS.read, TEST_TOKENS.writeGlobal, TEST_TOKENS.readUsers]) {
      const forbidden = await admin({ rate: 0 }, other.token);
      expect({ token: other.name, status: forbidden.status, json: forbidden.json }).toEqual({
        token: other.name,
        status: 403,
        json: { error: `the token "${other.name}" has none of the scopes this route needs (admin)` },
      });
    }
    // Still failing everything: none of the refused calls changed the rate.
    expect((await call(harness.url, 'GET', '/admin/fault', { token: ADMIN_TOKEN })).json).toEqual({
      rate: 1,
    });
  });

  it('rejects a rate outside 0 to 1', async () => {
    for (const body of [{ rate: 2 }, { rate: -1 }, { rate: 'half' }, {}]) {
      const response = await admin(body);
      expect(response.status).toBe(400);
      expect((response.json as { error: string }).error).toMatch(/from 0 to 1/);
    }
  });

  it('turns off and on at run time through the admin route', async () => {
    expect((await admin({ rate: 0 })).json).toEqual({ rate: 0 });
    for (const user of unifiedUsers) {
      expect((await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user })).status).toBe(200);
    }
    expect((await admin({ rate: 0.5 })).json).toEqual({ rate: 0.5 });
    const before = unifiedErrorRatio((await call(harness.url, 'GET', '/metrics')).text);
    const statuses: number[] = [];
    for (let round = 0; round < 10; round += 1) {
      for (const user of unifiedUsers) {
        statuses.push((await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user })).status);
      }
    }
    const failed = statuses.filter((status) => status === 500).length;
    // Binomial(n ≈ 300, 0.5): more than 6 standard deviations of room either side.
    expect(failed / statuses.length).toBeGreaterThan(0.3);
    expect(failed / statuses.length).toBeLessThan(0.7);
    const after = unifiedErrorRatio((await call(harness.url, 'GET', '/metrics')).text);
    expect(after.errors - before.errors).toBe(failed);
    expect(after.total - before.total).toBe(statuses.length);
  });
});

describe('fault switch from the environment', () => {
  it('SERVICE_FAULT_RATE=1 makes the service built from env fail unified requests', async () => {
    const backupDir = mkdtempSync(path.join(os.tmpdir(), 'fault-env-'));
    const running = await startConfigService(
      {
        ...env,
        DATABASE_URL: t.url,
        SERVICE_FAULT_RATE: 1,
        ENABLE_UNIFIED_CONFIG: 'on',
        UNLEASH_BACKUP_DIR: backupDir,
        SERVICE_API_TOKENS: testApiTokens(),
      },
      { logger: pino({ level: 'silent' }), address: { host: '127.0.0.1', port: 0 } },
    );
    try {
      const response = await call(running.url, 'GET', '/api/config/maxTokens', { userId: 'anyone' });
      expect(response.status).toBe(500);
      expect(response.headers.get('x-config-path')).toBe('unified');
      // The admin route needs the admin scope.
      const body = { rate: 0 };
      expect((await call(running.url, 'POST', '/admin/fault', { body, token: null })).status).toBe(401);
      const reader = TEST_TOKENS.readUsers.token;
      expect((await call(running.url, 'POST', '/admin/fault', { body, token: reader })).status).toBe(403);
      expect((await call(running.url, 'POST', '/admin/fault', { body, token: ADMIN_TOKEN })).json).toEqual({
        rate: 0,
      });
    } finally {
      await running.shutdown();
      rmSync(backupDir, { recursive: true, force: true });
    }
  });

  it('refuses to start without SERVICE_API_TOKENS, before anything listens', async () => {
    await expect(
      startConfigService(
        { ...env, DATABASE_URL: t.url, ENABLE_UNIFIED_CONFIG: 'on', SERVICE_API_TOKENS: undefined },
        { logger: pino({ level: 'silent' }), address: { host: '127.0.0.1', port: 0 } },
      ),
    ).rejects.toThrow(/^SERVICE_API_TOKENS is not set: .*Format: <name>:<scope>/);
  });
});
