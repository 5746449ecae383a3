import { randomBytes } from 'node:crypto';
import { setConfig } from '../../db/runtime-config-queries';
import { createSecretBox, isCiphertext } from '../../src/secrets/secret-box';
import { insertLegacyRows } from '../helpers/config-fixtures';
import { call, startServiceHarness, type CallResult, type ServiceHarness } from '../helpers/service-harness';
import { encodingsOf, findPlaintexts } from '../helpers/service-leak-scan';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

/**
 * Writes secrets every way there is (through the API on both paths, by name and by type, global and per user;
 * with setConfig; a legacy plaintext row; bad requests that carry a secret), reads everything back, and scans
 * every response, every log line (at trace level, request logging on) and the /metrics output of both
 * service instances for each plaintext in any common encoding. Nothing may be found.
 */

const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });
const plaintext = (label: string): string => `sk-${label}-${randomBytes(12).toString('hex')}`;

const SECRETS = {
  byNameUnified: plaintext('openai'),
  byNameLegacy: plaintext('anthropic'),
  byTypeUserScoped: plaintext('webhook'),
  viaSetConfig: plaintext('azure'),
  legacyPlaintextRow: plaintext('legacy'),
  inDuplicateField: plaintext('dup-a'),
  inDuplicateFieldOther: plaintext('dup-b'),
  inMalformedJson: plaintext('malformed'),
  inWrongType: plaintext('wrong-type'),
};
const ALL = Object.values(SECRETS);

let t: TestDatabase;
let unified: ServiceHarness;
let legacy: ServiceHarness;
const responses: CallResult[] = [];

async function record(result: Promise<CallResult>): Promise<CallResult> {
  const response = await result;
  responses.push(response);
  return response;
}

function responseText(response: CallResult): string {
  return `${response.status}\n${[...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n')}\n${response.text}`;
}

beforeAll(async () => {
  t = await createTestDatabase('secret_leak');
  const options = { databaseUrl: t.url, secretBox, service: { logRequests: true } };
  unified = await startServiceHarness({ ...options, override: 'on' });
  legacy = await startServiceHarness({ ...options, override: 'off' });

  // Writes through the API.
  const put = (service: ServiceHarness, key: string, body: unknown, userId?: string) =>
    record(call(service.url, 'PUT', `/api/config/${key}`, { body, userId }));
  expect((await put(unified, 'openaiApiKey', { value: SECRETS.byNameUnified, scope: 'global' })).status).toBe(
    201,
  );
  expect(
    (await put(legacy, 'anthropic_api_key', { value: SECRETS.byNameLegacy, value_type: 'secret' })).status,
  ).toBe(200);
  expect(
    (
      await put(
        unified,
        'webhookSigningToken',
        { value: SECRETS.byTypeUserScoped, valueType: 'secret' },
        'alice',
      )
    ).status,
  ).toBe(201);
  // Written by code, not the API.
  await setConfig(
    t.db,
    { key: 'azureApiKey', userId: null, value: SECRETS.viaSetConfig, valueType: 'secret' },
    { secretBox },
  );
  // A legacy row from before secrets were encrypted: plaintext in the table, under a secret's name.
  await insertLegacyRows(t.db, [
    { key: 'mistralApiKey', userId: 'bob', value: SECRETS.legacyPlaintextRow, valueType: 'string' },
  ]);

  // Bad requests that carry a secret: each must be refused without echoing it.
  expect(
    (
      await put(unified, 'groqApiKey', {
        value: SECRETS.inDuplicateField,
        Value: SECRETS.inDuplicateFieldOther,
      })
    ).status,
  ).toBe(400);
  const malformed = await record(
    call(unified.url, 'PUT', '/api/config/cohereApiKey', {
      rawBody: `{"value": "${SECRETS.inMalformedJson}`,
    }),
  );
  expect(malformed.status).toBe(400);
  expect(
    (await put(legacy, 'xaiApiKey', { value: { key: SECRETS.inWrongType }, valueType: 'secret' })).status,
  ).toBe(400);
}, 60_000);

afterAll(async () => {
  await unified?.close();
  await legacy?.close();
  await t?.drop();
});

describe('secret leak scan', () => {
  it('finds a planted plaintext in every encoding it scans for (the scan can see a leak)', () => {
    const planted = plaintext('control');
    expect(findPlaintexts('nothing to see', [planted])).toEqual([]);
    for (const encoded of encodingsOf(planted)) {
      expect(findPlaintexts(`{"level":30,"msg":"x","value":"${encoded}"}`, [planted])).toEqual([planted]);
    }
    const blob = Buffer.from(`prefix:${planted}:suffix`).toString('base64');
    expect(findPlaintexts(`ciphertext=${blob}`, [planted])).toEqual([planted]);
    expect(
      findPlaintexts(JSON.stringify({ error: `bad ${planted}` }), [planted, plaintext('other')]),
    ).toEqual([planted]);
  });

  it('stores every secret written through the API or setConfig as ciphertext', async () => {
    const rows = await t.db
      .selectFrom('runtime_config')
      .select(['key', 'user_id', 'value', 'value_type'])
      .where('value_type', '=', 'secret')
      .orderBy('key')
      .execute();
    expect(rows.map((row) => [row.key, row.user_id])).toEqual([
      ['anthropic_api_key', null],
      ['azure_api_key', null],
      ['openai_api_key', null],
      ['webhook_signing_token', 'alice'],
    ]);
    for (const row of rows) expect(isCiphertext(row.value)).toBe(true);
    expect(findPlaintexts(JSON.stringify(rows), ALL)).toEqual([]);
  });

  it('masks every secret on read, on both paths, whatever spelling is asked', async () => {
    const reads: [string, string | undefined][] = [
      ['openaiApiKey', undefined],
      ['openai_api_key', 'alice'],
      ['anthropicApiKey', undefined],
      ['AnthropicApiKey', 'carol'],
      ['webhookSigningToken', 'alice'],
      ['azure_api_key', undefined],
    ];
    for (const service of [unified, legacy]) {
      for (const [key, userId] of reads) {
        const response = await record(call(service.url, 'GET', `/api/config/${key}`, { userId }));
        expect({ key, status: response.status }).toEqual({ key, status: 200 });
        expect(response.json).toMatchObject({ value: '********', valueType: 'secret' });
      }
      // Another user does not get alice's token (and there is no global one).
      expect(
        (await record(call(service.url, 'GET', '/api/config/webhookSigningToken', { userId: 'dave' })))
          .status,
      ).toBe(404);
    }
  });

  it('refuses to serve a legacy plaintext secret row, with a message that does not quote it', async () => {
    for (const service of [unified, legacy]) {
      const response = await record(call(service.url, 'GET', '/api/config/mistralApiKey', { userId: 'bob' }));
      expect(response.status).toBe(500);
      expect((response.json as { error: string }).error).toMatch(/is not stored in the v1:.* format/);
    }
  });

  it('exercises the other routes, health and metrics on both instances', async () => {
    for (const service of [unified, legacy]) {
      for (const pathname of ['/api/generation-defaults', '/api/models', '/readyz', '/healthz', '/metrics']) {
        expect((await record(call(service.url, 'GET', pathname, { userId: 'alice' }))).status).toBe(200);
      }
    }
  });

  it('finds no plaintext in any response, log line or /metrics output', async () => {
    const metrics = [
      await unified.registry.metrics(),
      await legacy.registry.metrics(),
      (await call(unified.url, 'GET', '/metrics')).text,
      (await call(legacy.url, 'GET', '/metrics')).text,
    ];
    const logs = [unified.logs.text(), legacy.logs.text()];
    // The haystacks are not empty: the logs saw the requests (trace level, request logging on).
    expect(responses.length).toBeGreaterThanOrEqual(30);
    expect(logs.join('')).toContain('/api/config/openaiApiKey');
    expect(logs.join('')).toContain('request rejected');
    expect(metrics.join('')).toContain('config_changes_total{config_path="unified",value_type="secret"} 2');

    expect({
      responses: findPlaintexts(responses.map(responseText).join('\n'), ALL),
      logs: findPlaintexts(logs.join('\n'), ALL),
      metrics: findPlaintexts(metrics.join('\n'), ALL),
    }).toEqual({ responses: [], logs: [], metrics: [] });
  });
});
