import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseModelFixture } from '../../db/fixtures/model-catalog-schema';
import { setConfig } from '../../db/runtime-config-queries';
import { readEnv, type Env } from '../../src/config/env';
import { projectRoot } from '../../src/config/load-dotenv';
import { createSecretBox } from '../../src/secrets/secret-box';
import { call, startServiceHarness, type CallResult, type ServiceHarness } from '../helpers/service-harness';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { evaluateOncePropagated } from '../helpers/unleash-evaluation';

/**
 * The config service against real Postgres and the real Unleash, with a flag at 50 %: the same URL is served
 * by the unified handlers for users in the cohort and by the legacy ones for the rest; JSON out is camelCase,
 * input is accepted in both cases, and bad input is a 400 that says what is wrong.
 */

const USERS = Array.from({ length: 80 }, (_unused, index) => `route-user-${index}`);
const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

let env: Env;
let t: TestDatabase;
let flagName: string;
let harness: ServiceHarness;
let unifiedUser: string;
let legacyUser: string;
let expected: Set<string>;

/** Every object key in a JSON value, at any depth. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) => [key, ...keysOf(item)]);
}

function expectCamelCase(response: CallResult): void {
  expect(keysOf(response.json).filter((key) => !/^[a-z][a-zA-Z0-9]*$/.test(key))).toEqual([]);
}

const get = (pathname: string, userId?: string) => call(harness.url, 'GET', pathname, { userId });
const put = (pathname: string, body: unknown, userId?: string) =>
  call(harness.url, 'PUT', pathname, { userId, body });

beforeAll(async () => {
  env = readEnv();
  t = await createTestDatabase('service_routing');
  flagName = uniqueFlagName('routing');
  await setFlagPercent(env, flagName, 50);
  const reference = await evaluateOncePropagated(env, flagName, USERS, 50);
  expect(reference.clientPercent).toBe('50');
  expected = reference.enabled;
  unifiedUser = USERS.find((user) => expected.has(user)) as string;
  legacyUser = USERS.find((user) => !expected.has(user)) as string;
  const { models } = parseModelFixture(
    JSON.parse(readFileSync(path.join(projectRoot, 'db', 'fixtures', 'models.json'), 'utf8')),
  );
  await t.db
    .insertInto('model_catalog')
    .values(models.map((model) => ({ ...model, capabilities: JSON.stringify(model.capabilities) })))
    .execute();
  harness = await startServiceHarness({ databaseUrl: t.url, secretBox, flagName });
});

afterAll(async () => {
  await harness?.close();
  await t?.drop();
  if (flagName) await archiveFlag(env, flagName);
});

describe('config service routing and API', () => {
  it('is healthy and ready once subscribed, warmed up and holding the flag state', async () => {
    expect((await get('/healthz')).json).toEqual({ status: 'ok' });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({
      ready: true,
      database: { ok: true },
      reader: { ok: true, status: 'subscribed' },
      flag: { ok: true, origin: 'live', override: null, reachable: true },
      warmUp: { ok: true },
      shuttingDown: false,
    });
  });

  it('serves the same URL by the unified handler for flagged users and the legacy one for the rest', async () => {
    await setConfig(t.db, { key: 'maxTokens', userId: null, value: 2048, valueType: 'number' });
    for (const user of USERS) {
      const response = await get('/api/config/maxTokens', user);
      const unified = expected.has(user);
      expect({ user, status: response.status, path: response.headers.get('x-config-path') }).toEqual({
        user,
        status: 200,
        path: unified ? 'unified' : 'legacy',
      });
      expect(response.json).toEqual({ key: 'maxTokens', value: 2048, valueType: 'number' });
    }
    // Anonymous requests: the flag's userId stickiness has no user to put in the cohort.
    expect((await get('/api/config/maxTokens')).headers.get('x-config-path')).toBe('legacy');
  });

  it('answers the canonical camelCase key on the unified path, and the key as asked on the legacy one', async () => {
    const unified = await get('/api/config/max_tokens', unifiedUser);
    expect(unified.json).toEqual({ key: 'maxTokens', value: 2048, valueType: 'number' });
    const legacy = await get('/api/config/max_tokens', legacyUser);
    expect(legacy.json).toEqual({ key: 'max_tokens', value: 2048, valueType: 'number' });
    const legacyCamel = await get('/api/config/maxTokens', legacyUser);
    expect(legacyCamel.json).toEqual({ key: 'maxTokens', value: 2048, valueType: 'number' });
  });

  it('accepts snake_case and camelCase bodies and stores the key normalized', async () => {
    const snake = await put(
      '/api/config/topP',
      { value: 0.9, value_type: 'number', scope: 'global' },
      unifiedUser,
    );
    expect(snake.status).toBe(201);
    expect(snake.json).toEqual({
      key: 'topP',
      value: 0.9,
      valueType: 'number',
      scope: 'global',
      created: true,
      changed: true,
    });
    expectCamelCase(snake);
    const camel = await put(
      '/api/config/top_p',
      { value: 0.8, valueType: 'number', scope: 'global' },
      unifiedUser,
    );
    expect(camel.status).toBe(200);
    expect(camel.json).toMatchObject({ key: 'topP', value: 0.8, created: false });
    const rows = await t.db
      .selectFrom('runtime_config')
      .select(['key', 'value'])
      .where('key', 'like', 'top%')
      .execute();
    expect(rows).toEqual([{ key: 'top_p', value: '0.8' }]);
  });

  it("writes the requesting user's own value by default, which wins over the global one for that user only", async () => {
    const own = await put('/api/config/temperature', { value: 0.2 }, unifiedUser);
    expect(own.json).toMatchObject({ key: 'temperature', value: 0.2, valueType: 'number', scope: 'user' });
    await put('/api/config/temperature', { value: 0.7, scope: 'global' }, unifiedUser);
    expect((await get('/api/config/temperature', unifiedUser)).json).toMatchObject({ value: 0.2 });
    expect((await get('/api/config/temperature', legacyUser)).json).toMatchObject({ value: 0.7 });
    expect((await get('/api/config/temperature')).json).toMatchObject({ value: 0.7 });
  });

  it('validates LLM parameters on both paths with the same schemas, without quoting the value', async () => {
    const unified = await put('/api/config/temperature', { value: 7, scope: 'global' }, unifiedUser);
    expect(unified.status).toBe(400);
    expect(unified.json).toEqual({ error: 'invalid value: temperature: must be at most 2' });
    const typed = await put('/api/config/maxTokens', { value: '512', valueType: 'string' }, unifiedUser);
    expect(typed.json).toEqual({ error: 'invalid value: max_tokens: must be a number, got a string' });
    // The legacy path shares the table with unified readers: what they would refuse is refused here too.
    const legacy = await put('/api/config/presencePenalty', { value: 9, scope: 'global' }, legacyUser);
    expect(legacy.headers.get('x-config-path')).toBe('legacy');
    expect(legacy.status).toBe(400);
    expect(legacy.json).toEqual({ error: 'invalid value: presence_penalty: must be at most 2' });
    const fits = await put('/api/config/presencePenalty', { value: 1.5, scope: 'global' }, legacyUser);
    expect(fits.status).toBe(200);
    expect(fits.json).toEqual({ key: 'presencePenalty', value: 1.5, valueType: 'number' });
  });

  it('serves generation defaults camelCase: validated field by field on the unified path, raw on the legacy one', async () => {
    await setConfig(t.db, { key: 'stop_sequences', userId: null, value: ['END'], valueType: 'json' });
    // A value stored before writes were checked on the legacy path (or written around the service).
    await setConfig(t.db, { key: 'presence_penalty', userId: null, value: 9, valueType: 'number' });
    // The unified user has their own temperature (0.2); the stored presence penalty (9) is out of range.
    const unified = await get('/api/generation-defaults', unifiedUser);
    expect(unified.headers.get('x-config-path')).toBe('unified');
    expect(unified.json).toEqual({
      params: { temperature: 0.2, maxTokens: 2048, topP: 0.8, stopSequences: ['END'] },
      invalid: ['presencePenalty: must be at most 2'],
    });
    expectCamelCase(unified);
    const legacy = await get('/api/generation-defaults', legacyUser);
    expect(legacy.headers.get('x-config-path')).toBe('legacy');
    expect(legacy.json).toEqual({
      temperature: 0.7,
      maxTokens: 2048,
      topP: 0.8,
      presencePenalty: 9,
      stopSequences: ['END'],
    });
  });

  it('serves the model catalogue camelCase, with filters on the unified path', async () => {
    const unified = await get('/api/models', unifiedUser);
    expect(unified.status).toBe(200);
    expectCamelCase(unified);
    const body = unified.json as { models: Record<string, unknown>[]; count: number };
    expect(body.count).toBe(body.models.length);
    expect(body.models[0]).toEqual({
      provider: expect.any(String),
      modelId: expect.any(String),
      displayName: expect.any(String),
      contextWindow: expect.any(Number),
      maxOutputTokens: expect.any(Number),
      capabilities: expect.any(Array),
      deprecatedOn: null,
    });
    const openai = (await get('/api/models?provider=openai&capability=reasoning', unifiedUser)).json as {
      models: { provider: string; capabilities: string[] }[];
    };
    expect(openai.models.length).toBeGreaterThan(0);
    expect(openai.models.every((m) => m.provider === 'openai' && m.capabilities.includes('reasoning'))).toBe(
      true,
    );
    const bad = await get('/api/models?provider=acme', unifiedUser);
    expect(bad.status).toBe(400);
    expect((bad.json as { error: string }).error).toMatch(/provider must be one of openai/);

    const legacy = await get('/api/models', legacyUser);
    expectCamelCase(legacy);
    const list = legacy.json as Record<string, unknown>[];
    expect(list).toHaveLength(body.count);
    expect(Object.keys(list[0] ?? {}).sort()).toEqual([
      'contextWindow',
      'displayName',
      'maxOutputTokens',
      'modelId',
      'provider',
    ]);
  });

  it.each([
    ['invalid JSON', { rawBody: '{"value": ' }, /Body is not valid JSON/],
    ['a list body', { body: [1] }, /body must be a JSON object/],
    ['an unknown field', { body: { value: 1, colour: 'red' } }, /colour: unknown field/],
    [
      'a value that does not fit its type',
      { body: { value: 'abc', valueType: 'number' } },
      /must be a finite number/,
    ],
    [
      'a secret that is not a string',
      { body: { value: 42, valueType: 'secret' } },
      /its value must be a string/,
    ],
  ])('rejects %s with a 400 and a clear message', async (_label, request, message) => {
    const response = await call(harness.url, 'PUT', '/api/config/someSetting', {
      userId: legacyUser,
      ...request,
    });
    expect(response.status).toBe(400);
    expect((response.json as { error: string }).error).toMatch(message);
  });

  it('rejects a malformed user id, and says so', async () => {
    const response = await call(harness.url, 'GET', '/api/config/maxTokens', {
      headers: { 'x-user-id': 'x'.repeat(300) },
    });
    expect(response.status).toBe(400);
    expect(response.json).toEqual({
      error: 'x-user-id must be 1 to 256 characters without control characters',
    });
  });

  it('answers 404 with a message for a key that is not set and for an unknown route', async () => {
    expect(await get('/api/config/neverSet', unifiedUser)).toMatchObject({
      status: 404,
      json: { error: 'config key "never_set" is not set' },
    });
    expect(await get('/api/config/neverSet', legacyUser)).toMatchObject({
      status: 404,
      json: { error: 'config key "neverSet" is not set' },
    });
    expect(await get('/api/nothing')).toMatchObject({
      status: 404,
      json: { error: 'no route GET /api/nothing' },
    });
  });

  it('exposes the SPEC §8 metrics with bounded labels only', async () => {
    const metrics = await get('/metrics');
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    for (const name of [
      'config_changes_total{config_path="unified",value_type="number"}',
      'config_changes_total{config_path="legacy",value_type="number"}',
      'config_cache_hits_total',
      'config_cache_misses_total',
      'config_load_seconds_bucket',
      'config_invalidations_total{transport="postgres"}',
      'config_flag_evaluations_total{result="unified",source="unleash"}',
      'config_flag_evaluations_total{result="legacy",source="unleash"}',
      'http_request_duration_seconds_count{method="GET",route="/api/config/:key",status_code="200",config_path="unified"}',
      'http_request_duration_seconds_count{method="PUT",route="/api/config/:key",status_code="400",config_path="unified"}',
      'config_service_fault_rate 0',
    ]) {
      expect(metrics.text).toContain(name);
    }
    // No user id, key or raw URL in any label.
    expect(metrics.text).not.toMatch(/route-user-|max_tokens|maxTokens|neverSet|\/api\/nothing/);
    const labelValues = [...metrics.text.matchAll(/="([^"]*)"/g)].map((match) => match[1] ?? '');
    expect(new Set(labelValues).size).toBeLessThan(60);
  });
});

describe('kill switch through the service', () => {
  it('ENABLE_UNIFIED_CONFIG=off serves every user the legacy path, whatever Unleash says', async () => {
    const killed = await startServiceHarness({ databaseUrl: t.url, secretBox, flagName, override: 'off' });
    try {
      for (const user of USERS) {
        const response = await call(killed.url, 'GET', '/api/config/maxTokens', { userId: user });
        expect(response.headers.get('x-config-path')).toBe('legacy');
        expect(response.json).toEqual({ key: 'maxTokens', value: 2048, valueType: 'number' });
      }
      const metrics = await call(killed.url, 'GET', '/metrics');
      expect(metrics.text).toContain(
        `config_flag_evaluations_total{result="legacy",source="kill_switch"} ${USERS.length}`,
      );
      expect((await call(killed.url, 'GET', '/readyz')).json).toMatchObject({
        flag: { ok: true, override: 'off' },
      });
    } finally {
      await killed.close();
    }
  });

  it('ENABLE_UNIFIED_CONFIG=on serves every user the unified path', async () => {
    const forced = await startServiceHarness({ databaseUrl: t.url, secretBox, flagName, override: 'on' });
    try {
      for (const user of USERS.slice(0, 20)) {
        const response = await call(forced.url, 'GET', '/api/config/max_tokens', { userId: user });
        expect(response.headers.get('x-config-path')).toBe('unified');
      }
    } finally {
      await forced.close();
    }
  });
});
