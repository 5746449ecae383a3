import { randomBytes } from 'node:crypto';
import { setConfig } from '../../db/runtime-config-queries';
import { createSecretBox } from '../../src/secrets/secret-box';
import { call, rawCall, startServiceHarness, type ServiceHarness } from '../helpers/service-harness';
import { TEST_TOKENS, type TestToken } from '../helpers/service-tokens';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

/**
 * Authentication and scopes of the config service, against real Postgres: every protected route refuses a
 * request without a valid bearer token (401, `WWW-Authenticate: Bearer`) and one whose token lacks the scope
 * (403), and a refused request changes nothing. `x-user-id` is honoured only for callers allowed to act for
 * users, so a caller cannot read or write another user's values by naming them.
 */

const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });
const ALICE_VALUE = `alice-private-${randomBytes(6).toString('hex')}`;

let t: TestDatabase;
let harness: ServiceHarness;

beforeAll(async () => {
  t = await createTestDatabase('service_auth');
  await setConfig(t.db, { key: 'modelName', userId: null, value: 'gpt-global', valueType: 'string' });
  await setConfig(t.db, { key: 'modelName', userId: 'alice', value: ALICE_VALUE, valueType: 'string' });
  // The kill switch keeps Unleash out: authentication does not depend on the path.
  harness = await startServiceHarness({ databaseUrl: t.url, secretBox, override: 'off' });
});

afterAll(async () => {
  await harness?.close();
  await t?.drop();
});

interface Operation {
  label: string;
  /** A fresh request per token; `marker` tells the writes apart in the table afterwards. */
  send(token: string | null, marker: string): ReturnType<typeof call>;
}

const operations: Operation[] = [
  {
    label: 'GET a global value',
    send: (token) => call(harness.url, 'GET', '/api/config/modelName', { token }),
  },
  {
    label: "GET a user's value",
    send: (token) => call(harness.url, 'GET', '/api/config/modelName', { token, userId: 'alice' }),
  },
  {
    label: 'PUT a global value',
    send: (token, marker) =>
      call(harness.url, 'PUT', `/api/config/auth_global_${marker}`, { token, body: { value: marker } }),
  },
  {
    label: "PUT a user's own value",
    send: (token, marker) =>
      call(harness.url, 'PUT', `/api/config/auth_user_${marker}`, {
        token,
        userId: 'alice',
        body: { value: marker },
      }),
  },
  { label: 'GET /api/models', send: (token) => call(harness.url, 'GET', '/api/models', { token }) },
  {
    label: 'GET /api/generation-defaults',
    send: (token) => call(harness.url, 'GET', '/api/generation-defaults', { token }),
  },
  { label: 'GET /admin/fault', send: (token) => call(harness.url, 'GET', '/admin/fault', { token }) },
  {
    label: 'POST /admin/fault',
    send: (token) => call(harness.url, 'POST', '/admin/fault', { token, body: { rate: 0 } }),
  },
];

// Which operations (by label) each token may perform; every other one is a 403.
const ALLOWED: Record<keyof typeof TEST_TOKENS, string[]> = {
  all: operations.map((operation) => operation.label),
  read: ['GET a global value', 'GET /api/models', 'GET /api/generation-defaults'],
  users: [],
  readUsers: ['GET a global value', "GET a user's value", 'GET /api/models', 'GET /api/generation-defaults'],
  writeUser: ["PUT a user's own value"],
  writeGlobal: ['PUT a global value'],
  admin: ['GET /admin/fault', 'POST /admin/fault'],
};

describe('config service authentication', () => {
  it('answers every protected route without a token, or with an unknown one, with a 401 and a Bearer challenge', async () => {
    for (const operation of operations) {
      for (const token of [null, 'not-a-configured-token-0123456789', `${TEST_TOKENS.all.token}x`]) {
        const response = await operation.send(token, 'unauthenticated');
        expect({ operation: operation.label, token, status: response.status }).toEqual({
          operation: operation.label,
          token,
          status: 401,
        });
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="config-service"/);
      }
    }
    const missing = await call(harness.url, 'GET', '/api/models', { token: null });
    expect(missing.json).toEqual({
      error:
        'authentication required: send "Authorization: Bearer <token>" with a token from SERVICE_API_TOKENS',
    });
    const basic = await call(harness.url, 'GET', '/api/models', {
      token: null,
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
    });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toBe(
      'Bearer realm="config-service", error="invalid_request"',
    );
  });

  it('answers each route by the scopes of each token: the allowed ones succeed, the rest are 403', async () => {
    for (const [name, token] of Object.entries(TEST_TOKENS) as [keyof typeof TEST_TOKENS, TestToken][]) {
      for (const operation of operations) {
        const response = await operation.send(token.token, token.name);
        const allowed = ALLOWED[name].includes(operation.label);
        const outcome =
          response.status === 200 || response.status === 201
            ? 'done'
            : response.status === 403
              ? 'forbidden'
              : `status ${response.status}`;
        expect({ token: token.name, operation: operation.label, outcome }).toEqual({
          token: token.name,
          operation: operation.label,
          outcome: allowed ? 'done' : 'forbidden',
        });
        if (!allowed)
          expect((response.json as { error: string }).error).toMatch(/^the token "test-[a-z-]+" /);
      }
    }
  });

  it('wrote only what an allowed token asked for', async () => {
    const rows = await t.db
      .selectFrom('runtime_config')
      .select(['key', 'user_id', 'value'])
      .where('key', 'like', 'auth\\_%')
      .orderBy('key')
      .execute();
    expect(rows).toEqual([
      { key: 'auth_global_test_all', user_id: null, value: 'test-all' },
      { key: 'auth_global_test_write_global', user_id: null, value: 'test-write-global' },
      { key: 'auth_user_test_all', user_id: 'alice', value: 'test-all' },
      { key: 'auth_user_test_write_user', user_id: 'alice', value: 'test-write-user' },
    ]);
  });

  it("refuses a forged x-user-id from a caller not allowed to act for users, without revealing the user's value", async () => {
    // A read-only caller naming alice would otherwise get her own value.
    const read = await call(harness.url, 'GET', '/api/config/modelName', {
      token: TEST_TOKENS.read.token,
      userId: 'alice',
    });
    expect(read.status).toBe(403);
    expect(read.json).toEqual({ error: 'the token "test-read" lacks the "users" scope to send x-user-id' });
    expect(read.text).not.toContain(ALICE_VALUE);
    // Without the header the same caller gets the global value.
    expect(
      (await call(harness.url, 'GET', '/api/config/modelName', { token: TEST_TOKENS.read.token })).json,
    ).toMatchObject({ value: 'gpt-global' });

    // A global writer naming alice cannot write her value either, whatever the body's scope says.
    for (const scope of ['user', 'global']) {
      const write = await call(harness.url, 'PUT', '/api/config/modelName', {
        token: TEST_TOKENS.writeGlobal.token,
        userId: 'alice',
        body: { value: 'forged', scope },
      });
      expect(write.status).toBe(403);
    }
    const rows = await t.db
      .selectFrom('runtime_config')
      .select(['user_id', 'value'])
      .where('key', '=', 'model_name')
      .orderBy('user_id')
      .execute();
    expect(rows).toEqual([
      { user_id: 'alice', value: ALICE_VALUE },
      { user_id: null, value: 'gpt-global' },
    ]);
  });

  it('checks the token before reading the body: an unauthenticated malformed body is a 401, not a 400', async () => {
    const response = await call(harness.url, 'PUT', '/api/config/anything', {
      token: null,
      rawBody: '{"value": ',
    });
    expect(response.status).toBe(401);
  });

  it('refuses a repeated Authorization header', async () => {
    const response = await rawCall(harness.url, 'GET', '/api/models', [
      'authorization',
      `Bearer ${TEST_TOKENS.read.token}`,
      'authorization',
      `Bearer ${TEST_TOKENS.all.token}`,
    ]);
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ error: 'authorization must be given once' });
  });

  it('keeps /healthz, /readyz and /metrics open', async () => {
    for (const pathname of ['/healthz', '/readyz', '/metrics']) {
      expect({
        pathname,
        status: (await call(harness.url, 'GET', pathname, { token: null })).status,
      }).toEqual({
        pathname,
        status: 200,
      });
    }
  });

  it('never logs a presented token, valid or not', () => {
    const logs = harness.logs.text();
    expect(logs).toContain('request rejected');
    expect(logs).toContain('"caller":"test-read"');
    for (const token of [
      ...Object.values(TEST_TOKENS).map((entry) => entry.token),
      'not-a-configured-token',
    ]) {
      expect(logs).not.toContain(token);
    }
  });
});
