import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { setConfig } from '../../db/runtime-config-queries';
import { projectRoot } from '../../src/config/load-dotenv';
import { createSecretBox } from '../../src/secrets/secret-box';
import { call, rawCall, startServiceHarness, type ServiceHarness } from '../helpers/service-harness';
import { startServiceProcess } from '../helpers/service-process';
import { bearer } from '../helpers/service-tokens';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

/**
 * Bad input the config service once mishandled, each now a clear 4xx that quotes nothing: a legacy write a
 * unified reader would refuse, JSON nested thousands deep, over-long keys, a repeated `x-user-id`; a PUT
 * that changes nothing returns at once and leaves `updated_at` alone; development secrets refuse to start
 * the service and the worker under NODE_ENV=production.
 */

const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });
// Long enough that a PUT waiting for its own invalidation could never finish within a test.
const NEVER_MS = 600_000;

let t: TestDatabase;
let legacy: ServiceHarness;
let unified: ServiceHarness;

beforeAll(async () => {
  t = await createTestDatabase('service_hardening');
  const service = { ownInvalidationTimeoutMs: NEVER_MS };
  legacy = await startServiceHarness({ databaseUrl: t.url, secretBox, override: 'off', service });
  unified = await startServiceHarness({ databaseUrl: t.url, secretBox, override: 'on', service });
});

afterAll(async () => {
  await legacy?.close();
  await unified?.close();
  await t?.drop();
});

async function storedRow(key: string, userId: string | null = null) {
  return t.db
    .selectFrom('runtime_config')
    .select(['value', 'value_type', 'updated_at'])
    .where('key', '=', key)
    .where('user_id', userId === null ? 'is' : '=', userId)
    .executeTakeFirst();
}

describe('legacy writes of LLM parameters', () => {
  it('refuses a global temperature of 7 or "hot" from an anonymous (legacy-path) request, as unified does', async () => {
    await setConfig(t.db, { key: 'temperature', userId: null, value: 0.5, valueType: 'number' });
    for (const value of [7, 'hot', -1]) {
      const response = await call(legacy.url, 'PUT', '/api/config/temperature', { body: { value } });
      expect(response.headers.get('x-config-path')).toBe('legacy');
      expect({ value, status: response.status }).toEqual({ value, status: 400 });
      expect(response.text).not.toContain('hot');
    }
    expect(
      (await call(legacy.url, 'PUT', '/api/config/temperature', { body: { value: 'hot' } })).json,
    ).toEqual({ error: 'invalid value: temperature: must be a number, got a string' });
    expect(await storedRow('temperature')).toMatchObject({ value: '0.5', value_type: 'number' });
    // What a unified reader gets stays valid.
    expect((await call(unified.url, 'GET', '/api/generation-defaults')).json).toEqual({
      params: { temperature: 0.5 },
      invalid: [],
    });
    // A value in range is still written through the legacy path.
    expect((await call(legacy.url, 'PUT', '/api/config/temperature', { body: { value: 1.2 } })).status).toBe(
      200,
    );
    expect(await storedRow('temperature')).toMatchObject({ value: '1.2' });
  });
});

describe('deeply nested JSON', () => {
  it('is a 400 naming the limit, not a 500 from a stack overflow, and the service keeps serving', async () => {
    const depth = 3_000;
    const body = `{"value": ${'['.repeat(depth)}${']'.repeat(depth)}}`;
    for (const service of [legacy, unified]) {
      const response = await call(service.url, 'PUT', '/api/config/deepValue', { rawBody: body });
      expect(response.status).toBe(400);
      expect(response.json).toEqual({ error: 'body nests lists and objects deeper than 64 levels' });
      expect((await call(service.url, 'GET', '/healthz')).status).toBe(200);
    }
    expect(await storedRow('deep_value')).toBeUndefined();
    expect(`${legacy.logs.text()}${unified.logs.text()}`).not.toContain('request failed');
  });

  it('still accepts a nested value within the limit', async () => {
    const value = [[[{ a: [1, 2] }]]];
    const response = await call(unified.url, 'PUT', '/api/config/nestedValue', { body: { value } });
    expect(response.status).toBe(201);
    expect((await call(unified.url, 'GET', '/api/config/nestedValue')).json).toMatchObject({ value });
  });
});

describe('long keys', () => {
  it('serves a key of up to 256 characters (the router no longer stops at 100)', async () => {
    const key = `k${'x'.repeat(149)}`;
    const written = await call(unified.url, 'PUT', `/api/config/${key}`, { body: { value: 'long' } });
    expect(written.status).toBe(201);
    expect((await call(legacy.url, 'GET', `/api/config/${key}`)).json).toEqual({
      key,
      value: 'long',
      valueType: 'string',
    });
    const longest = 'y'.repeat(256);
    expect((await call(unified.url, 'GET', `/api/config/${longest}`)).status).toBe(404);
  });

  it.each([257, 300, 1_000, 4_000])(
    'refuses a key of %d characters with a 400 that does not echo it',
    async (length) => {
      const key = `secretish${randomBytes(length).toString('hex')}`.slice(0, length);
      for (const service of [legacy, unified]) {
        const response = await call(service.url, 'GET', `/api/config/${key}`);
        expect({ length, status: response.status }).toEqual({ length, status: 400 });
        expect((response.json as { error: string }).error).toMatch(
          /^(config key must be 1 to 256 characters|a URL path segment is longer than 768 characters)/,
        );
        expect(response.text).not.toContain(key.slice(0, 40));
        expect(service.logs.text()).not.toContain(`"error":"${key.slice(0, 40)}`);
      }
    },
  );
});

describe('x-user-id', () => {
  it('refuses a repeated header instead of reading the joined "alice, bob" as a user', async () => {
    const response = await rawCall(
      unified.url,
      'PUT',
      '/api/config/repeatedUser',
      [...Object.entries(bearer()).flat(), 'x-user-id', 'alice', 'x-user-id', 'bob'],
      JSON.stringify({ value: 'x' }),
    );
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ error: 'x-user-id must be given once' });
    const rows = await t.db
      .selectFrom('runtime_config')
      .select('user_id')
      .where('key', '=', 'repeated_user')
      .execute();
    expect(rows).toEqual([]);
    // Given once, the same request is written for that user (the raw-request path itself works).
    const once = await rawCall(
      unified.url,
      'PUT',
      '/api/config/repeatedUser',
      [...Object.entries(bearer()).flat(), 'x-user-id', 'alice'],
      JSON.stringify({ value: 'x' }),
    );
    expect(once.status).toBe(201);
    expect(await storedRow('repeated_user', 'alice')).toMatchObject({ value: 'x' });
  });
});

describe('a PUT that changes nothing', () => {
  it('returns at once (no wait for a notification the trigger never sends) and keeps updated_at', async () => {
    await setConfig(t.db, { key: 'maxTokens', userId: null, value: 512, valueType: 'number' });
    const before = await storedRow('max_tokens');
    // The services wait up to NEVER_MS for their own invalidation, and `call` gives up after 10 s: a no-op
    // PUT that still waited would fail here instead of answering.
    for (const service of [legacy, unified]) {
      const response = await call(service.url, 'PUT', '/api/config/max_tokens', {
        body: { value: 512, scope: 'global' },
      });
      expect(response.status).toBe(200);
    }
    const unchanged = await call(unified.url, 'PUT', '/api/config/maxTokens', { body: { value: 512 } });
    expect(unchanged.json).toEqual({
      key: 'maxTokens',
      value: 512,
      valueType: 'number',
      scope: 'global',
      created: false,
      changed: false,
    });
    const after = await storedRow('max_tokens');
    expect(after?.updated_at.toISOString()).toBe(before?.updated_at.toISOString());
    expect(after?.value).toBe('512');
  });

  it('still bumps updated_at and is read back at once when the value does change (control)', async () => {
    const before = await storedRow('max_tokens');
    const response = await call(unified.url, 'PUT', '/api/config/maxTokens', { body: { value: 1024 } });
    expect(response.json).toMatchObject({ value: 1024, changed: true });
    expect((await call(unified.url, 'GET', '/api/config/maxTokens')).json).toMatchObject({ value: 1024 });
    const after = await storedRow('max_tokens');
    expect(after?.updated_at.getTime()).toBeGreaterThan(before?.updated_at.getTime() ?? Infinity);
  });

  it('counts no config change for a write that changed nothing', async () => {
    const changes = async () =>
      Number(
        /config_changes_total\{config_path="unified",value_type="number"\} (\d+)/.exec(
          await unified.registry.metrics(),
        )?.[1] ?? 0,
      );
    const before = await changes();
    await call(unified.url, 'PUT', '/api/config/maxTokens', { body: { value: 1024 } });
    expect(await changes()).toBe(before);
    await call(unified.url, 'PUT', '/api/config/maxTokens', { body: { value: 2048 } });
    expect(await changes()).toBe(before + 1);
  });
});

describe('development secrets at startup', () => {
  const example = parseEnv(readFileSync(path.join(projectRoot, '.env.example'), 'utf8'));
  const devSecrets = {
    UNLEASH_ADMIN_TOKEN: example.UNLEASH_ADMIN_TOKEN ?? '',
    UNLEASH_CLIENT_TOKEN: example.UNLEASH_CLIENT_TOKEN ?? '',
    CONFIG_ENCRYPTION_KEY: example.CONFIG_ENCRYPTION_KEY ?? '',
    SERVICE_API_TOKENS: example.SERVICE_API_TOKENS ?? '',
  };
  const REFUSAL =
    'refuses to start with NODE_ENV=production: UNLEASH_ADMIN_TOKEN, UNLEASH_CLIENT_TOKEN, CONFIG_ENCRYPTION_KEY, SERVICE_API_TOKENS hold the development value from .env.example';

  function expectNoValues(output: string): void {
    for (const value of Object.values(devSecrets)) expect(output).not.toContain(value);
    expect(output).not.toMatch(/dev-(app|ops)-token/);
  }

  it('the service warns when it runs with them outside production', async () => {
    const child = await startServiceProcess(
      { DATABASE_URL: t.url, ENABLE_UNIFIED_CONFIG: 'off', NODE_ENV: 'development', ...devSecrets },
      { waitUntilReady: true },
    );
    try {
      const warning = child
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string; variables?: string[] })
        .find((line) => line.msg.startsWith('development secrets in use'));
      expect(warning).toMatchObject({
        level: 40,
        variables: [
          'UNLEASH_ADMIN_TOKEN',
          'UNLEASH_CLIENT_TOKEN',
          'CONFIG_ENCRYPTION_KEY',
          'SERVICE_API_TOKENS',
        ],
      });
      expectNoValues(child.output());
    } finally {
      expect(await child.stop()).toBe(0);
    }
  });

  it('the service refuses to start with them under NODE_ENV=production, naming the variables only', async () => {
    const failure = await startServiceProcess({
      DATABASE_URL: t.url,
      NODE_ENV: 'production',
      ...devSecrets,
    }).then(
      async (child) => {
        await child.stop();
        return 'started';
      },
      (error: Error) => error.message,
    );
    expect(failure).toContain(`config service ${REFUSAL}`);
    expectNoValues(failure);
  });

  it('the worker refuses to start with them under NODE_ENV=production, before connecting anywhere', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(projectRoot, 'src', 'worker', 'main.ts')],
      {
        cwd: projectRoot,
        // An address nothing answers on: reaching the connection step would fail differently.
        env: { ...process.env, NODE_ENV: 'production', TEMPORAL_ADDRESS: '127.0.0.1:1', ...devSecrets },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) =>
      child.once('exit', (exitCode) => resolve(exitCode)),
    );
    expect(code).toBe(1);
    expect(output).toContain(`worker ${REFUSAL}`);
    expect(output).not.toContain('cannot reach Temporal');
    expectNoValues(output);
  });
});
