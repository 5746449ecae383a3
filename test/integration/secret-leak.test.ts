import { randomBytes } from 'node:crypto';
import { setConfig } from '../../db/runtime-config-queries';
import { createSecretBox, isCiphertext } from '../../src/secrets/secret-box';
import { insertLegacyRows } from '../helpers/config-fixtures';
import { call, startServiceHarness, type CallResult, type ServiceHarness } from '../helpers/service-harness';
import { encodingsOf, findPlaintexts } from '../helpers/service-leak-scan';
import { TEST_TOKENS } from '../helpers/service-tokens';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

/**
 * Writes secrets every way there is (through the API on both paths, by name — every kind of name the rule
 * covers — and by type, global and per user; with setConfig; a legacy plaintext row), sends requests that are
 * refused while carrying a secret or a would-be secret (4xx of every kind: bad body, bad type, an LLM
 * parameter sent as a secret, too deep, a bad admin value, an unknown bearer token), reads everything back,
 * and scans every response, every log line (at trace level, request logging on) and the /metrics output of
 * both service instances for each plaintext — and the configured tokens — in any common encoding. The scan
 * first proves, on those same haystacks, that it finds a value planted in them; then nothing else may be found.
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
  // Names the rule covers beyond provider API keys.
  bareApiKey: plaintext('bare-api-key'),
  dbPassword: plaintext('password'),
  authToken: plaintext('token'),
  webhookSecret: plaintext('secret'),
  providerKey: plaintext('provider-key'),
  // Refused (4xx) while carrying a value that is, or might be, a secret.
  llmParamAsSecretUnified: plaintext('llm-secret-u'),
  llmParamAsSecretLegacy: plaintext('llm-secret-l'),
  llmParamAsString: plaintext('llm-string'),
  inRejectedList: plaintext('list'),
  notANumber: plaintext('not-a-number'),
  inUnknownField: plaintext('unknown-field'),
  inTooDeepBody: plaintext('too-deep'),
  asFaultRate: plaintext('fault-rate'),
  asBearerToken: plaintext('bearer'),
};
// The configured tokens must never appear either.
const TOKENS = Object.values(TEST_TOKENS).map((entry) => entry.token);
const ALL = [...Object.values(SECRETS), ...TOKENS];

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

  // Secrets under every kind of name the rule covers, written without saying `secret`.
  expect((await put(unified, 'apiKey', { value: SECRETS.bareApiKey, scope: 'global' })).status).toBe(201);
  expect((await put(legacy, 'dbPassword', { value: SECRETS.dbPassword, scope: 'global' })).status).toBe(200);
  expect((await put(unified, 'authToken', { value: SECRETS.authToken }, 'alice')).status).toBe(201);
  expect(
    (await put(legacy, 'webhook_secret', { value: SECRETS.webhookSecret, valueType: 'string' })).status,
  ).toBe(200);
  expect((await put(unified, 'OPENAI_KEY', { value: SECRETS.providerKey, scope: 'global' })).status).toBe(
    201,
  );

  // Refusals (4xx) of requests that carry a value that is or may be a secret.
  const refused: [ServiceHarness, string, unknown][] = [
    [unified, 'temperature', { value: SECRETS.llmParamAsSecretUnified, valueType: 'secret' }],
    [legacy, 'temperature', { value: SECRETS.llmParamAsSecretLegacy, valueType: 'secret', scope: 'global' }],
    [legacy, 'temperature', { value: SECRETS.llmParamAsString }],
    [unified, 'stopSequences', { value: [SECRETS.inRejectedList, 3] }],
    [legacy, 'someSetting', { value: SECRETS.notANumber, valueType: 'number' }],
    [unified, 'someSetting', { value: 1, colour: SECRETS.inUnknownField }],
  ];
  for (const [service, key, body] of refused) {
    expect({ key, status: (await put(service, key, body)).status }).toEqual({ key, status: 400 });
  }
  const deep = `{"value": ${'['.repeat(200)}"${SECRETS.inTooDeepBody}"${']'.repeat(200)}}`;
  expect((await record(call(legacy.url, 'PUT', '/api/config/deep', { rawBody: deep }))).status).toBe(400);
  const fault = await record(
    call(unified.url, 'POST', '/admin/fault', {
      body: { rate: SECRETS.asFaultRate },
      token: TEST_TOKENS.admin.token,
    }),
  );
  expect(fault.status).toBe(400);
  for (const service of [unified, legacy]) {
    const response = await record(
      call(service.url, 'GET', '/api/config/openaiApiKey', { token: SECRETS.asBearerToken }),
    );
    expect(response.status).toBe(401);
  }
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
      ['api_key', null],
      ['auth_token', 'alice'],
      ['azure_api_key', null],
      ['db_password', null],
      ['openai_api_key', null],
      ['openai_key', null],
      ['webhook_secret', null],
      ['webhook_signing_token', 'alice'],
    ]);
    for (const row of rows) expect(isCiphertext(row.value)).toBe(true);
    // The whole table (what a backup copies): only the deliberately planted legacy plaintext row is readable.
    const table = await t.db.selectFrom('runtime_config').selectAll().execute();
    expect(findPlaintexts(JSON.stringify(table), ALL)).toEqual([SECRETS.legacyPlaintextRow]);
  });

  it('masks every secret on read, on both paths, whatever spelling is asked', async () => {
    const reads: [string, string | undefined][] = [
      ['openaiApiKey', undefined],
      ['openai_api_key', 'alice'],
      ['anthropicApiKey', undefined],
      ['AnthropicApiKey', 'carol'],
      ['webhookSigningToken', 'alice'],
      ['azure_api_key', undefined],
      ['api_key', undefined],
      ['DB_PASSWORD', undefined],
      ['authToken', 'alice'],
      ['webhookSecret', undefined],
      ['openaiKey', undefined],
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

  it('finds no plaintext in any response (4xx included), log line or /metrics output', async () => {
    // Positive control, in the real haystacks: a value the service does show (a plain setting, echoed by its
    // PUT) and a line logged through the service's own logger must be found by the very same scan.
    const planted = plaintext('planted-control');
    const shown = await record(
      call(unified.url, 'PUT', '/api/config/plantedNote', { body: { value: planted, scope: 'global' } }),
    );
    expect(shown.status).toBe(201);
    unified.service.app.log.info({ note: Buffer.from(planted).toString('base64') }, 'planted control line');
    legacy.service.app.log.info({ note: planted }, 'planted control line');

    const metrics = [
      await unified.registry.metrics(),
      await legacy.registry.metrics(),
      (await call(unified.url, 'GET', '/metrics')).text,
      (await call(legacy.url, 'GET', '/metrics')).text,
    ];
    const logs = [unified.logs.text(), legacy.logs.text()];
    const responseTexts = responses.map(responseText).join('\n');
    // The haystacks are not empty: the logs saw the requests (trace level, request logging on) and refusals.
    expect(responses.length).toBeGreaterThanOrEqual(50);
    const refusals = responses.filter((response) => response.status >= 400 && response.status < 500);
    const byStatus: Record<number, number> = {};
    for (const response of refusals) byStatus[response.status] = (byStatus[response.status] ?? 0) + 1;
    // 400: the duplicate field, malformed JSON, a non-string secret, six refused values, the deep body and
    // the fault rate; 401: the unknown bearer token on each instance; 404: dave's missing token on each.
    expect(byStatus).toEqual({ 400: 11, 401: 2, 404: 2 });
    expect(logs.join('')).toContain('/api/config/openaiApiKey');
    expect(logs.join('').match(/request rejected/g)?.length).toBeGreaterThanOrEqual(refusals.length);
    expect(metrics.join('')).toContain('config_changes_total{config_path="unified",value_type="secret"} 5');
    expect(metrics.join('')).toContain('config_changes_total{config_path="legacy",value_type="secret"} 3');

    expect({
      responses: findPlaintexts(responseTexts, [planted, ...ALL]),
      logs: findPlaintexts(logs.join('\n'), [planted, ...ALL]),
      // Metrics never carry values, so nothing was planted there: the control is the responses' and logs'.
      metrics: findPlaintexts(metrics.join('\n'), ALL),
    }).toEqual({ responses: [planted], logs: [planted], metrics: [] });
  });
});
