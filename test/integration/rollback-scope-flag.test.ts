import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import { readEnv, type Env } from '../../src/config/env';
import { createSecretBox } from '../../src/secrets/secret-box';
import { RolloutWorkflow } from '../../workflows';
import { allRows, insertLegacyRows } from '../helpers/config-fixtures';
import { flagPercent, runCliInProcess, waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';
import { call, startServiceHarness, type ServiceHarness } from '../helpers/service-harness';
import { archiveFlag } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

/**
 * Issue 9, must show 9: `rollout rollback --scope flag` on a rollout that migrated keys and templates and
 * ramped to 50 % sets the flag to 0 % and leaves the data migrated, and the real config service serves the
 * right values on both paths afterwards: the legacy path (every user, the flag being off) reads the migrated
 * table through the same normalized lookup, and the unified path (forced on) reads it too.
 */

const USERS = ['alice', 'bob', ...Array.from({ length: 38 }, (_unused, index) => `scope-user-${index}`)];
const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

let env: Env;
let database: TestDatabase;
let temporal: TestTemporal;
const harnesses: ServiceHarness[] = [];
let flag: string;

beforeAll(async () => {
  env = readEnv();
  database = await createTestDatabase('rollback_scope_flag');
  temporal = await connectTestTemporal('scope-flag');
  flag = `scope-${uniqueSuffix()}`;
  // Legacy spellings, duplicates (the newest row of a group wins), user values over global ones.
  await insertLegacyRows(database.db, [
    { key: 'maxTokens', value: '1024', valueType: 'number', updatedAt: '2026-01-01T00:00:00Z' },
    { key: 'max_tokens', value: '2048', valueType: 'number', updatedAt: '2026-02-01T00:00:00Z' },
    {
      key: 'MaxTokens',
      value: '512',
      valueType: 'number',
      userId: 'alice',
      updatedAt: '2026-01-05T00:00:00Z',
    },
    {
      key: 'maxTokens',
      value: '768',
      valueType: 'number',
      userId: 'alice',
      updatedAt: '2026-01-06T00:00:00Z',
    },
    { key: 'URLPath', value: '/v1/chat', updatedAt: '2026-01-07T00:00:00Z' },
    { key: 'topP', value: '0.9', valueType: 'number', userId: 'bob', updatedAt: '2026-01-08T00:00:00Z' },
    { key: 'top_p', value: '0.5', valueType: 'number', updatedAt: '2026-01-09T00:00:00Z' },
    { key: 'llm.topK', value: '40', valueType: 'number', updatedAt: '2026-01-10T00:00:00Z' },
  ]);
  await database.db
    .insertInto('prompt_templates')
    .values([
      { name: 'a', body: 'A', llm_preferences: JSON.stringify({ maxTokens: 400, temperature: 0.3 }) },
      { name: 'b', body: 'B', llm_preferences: JSON.stringify({ topP: 0.8, max_tokens: 100 }) },
    ])
    .execute();
});

afterAll(async () => {
  for (const harness of harnesses) await harness.close().catch(() => undefined);
  await temporal?.close();
  await database?.drop();
  if (flag) await archiveFlag(env, flag);
});

/** What each user must get for each key, however it is spelt, on either path. */
function expectedValue(key: string, user: string): { value: unknown; valueType: string } {
  switch (key) {
    case 'maxTokens':
    case 'max_tokens':
      return { value: user === 'alice' ? 768 : 2048, valueType: 'number' };
    case 'topP':
      return { value: user === 'bob' ? 0.9 : 0.5, valueType: 'number' };
    case 'URLPath':
      return { value: '/v1/chat', valueType: 'string' };
    case 'llm.topK':
      return { value: 40, valueType: 'number' };
    default:
      throw new Error(`no expectation for ${key}`);
  }
}
const KEYS = ['maxTokens', 'max_tokens', 'topP', 'URLPath', 'llm.topK'];

/** Every user's every key through the service: the path each was served by, and whether every value was right. */
async function readEveryone(harness: ServiceHarness): Promise<{ paths: Set<string>; wrong: string[] }> {
  const paths = new Set<string>();
  const wrong: string[] = [];
  for (const user of USERS) {
    for (const key of KEYS) {
      const response = await call(harness.url, 'GET', `/api/config/${encodeURIComponent(key)}`, {
        userId: user,
      });
      const path = response.headers.get('x-config-path') ?? 'none';
      paths.add(path);
      const body = (response.json ?? {}) as { value?: unknown; valueType?: unknown };
      const expected = expectedValue(key, user);
      if (response.status !== 200 || body.value !== expected.value || body.valueType !== expected.valueType)
        wrong.push(`${path} ${user} ${key}: ${response.status} ${response.text}`);
    }
  }
  return { paths, wrong };
}

const templates = () =>
  sql<{ id: number; llm_preferences: unknown }>`select id, llm_preferences from prompt_templates order by id`
    .execute(database.db)
    .then((r) => r.rows);

const uniqueConstraints = () =>
  sql<{ conname: string }>`
    select conname from pg_constraint where conrelid = 'runtime_config'::regclass and contype = 'u'
  `
    .execute(database.db)
    .then((r) => r.rows.map((row) => row.conname));

test('rollback --scope flag: the flag at 0 %, keys and templates stay migrated, both paths serve the right values', async () => {
  const rolloutId = `r-${uniqueSuffix()}`;
  const configBefore = await allRows(database.db);
  const templatesBefore = await templates();

  await temporal.withWorker(database.db, async () => {
    const handle = await temporal.client.workflow.start(RolloutWorkflow, {
      workflowId: rolloutId,
      taskQueue: temporal.taskQueue,
      args: [
        {
          rolloutId,
          plan: {
            flag,
            unleash: { environment: 'development' },
            backup: { tables: ['runtime_config', 'prompt_templates'] },
            phases: { migrateKeys: true, migrateTemplates: true, seedModels: false },
            // The plan's default is a full rollback: the request's scope must win.
            rollback: { scope: 'full' },
            stages: [
              { percent: 50, soak: '10m' },
              { percent: 100, soak: '0s' },
            ],
          },
          requestedBy: 'jest@scope-flag',
        },
      ],
    });
    await waitForStatus(handle, (s) => s.stageIndex === 0, 'stage 1 (50 %)');
    expect(await flagPercent(temporal.unleash, flag)).toBe(50);

    // Migrated: snake_case keys, one row per (key, user), the unique constraint; templates rewritten.
    const configMigrated = await allRows(database.db);
    const templatesMigrated = await templates();
    expect(configMigrated.map((r) => r.key).sort()).toEqual([
      'llm.top_k',
      'max_tokens',
      'max_tokens',
      'top_p',
      'top_p',
      'url_path',
    ]);
    expect(templatesMigrated).not.toEqual(templatesBefore);
    expect(await uniqueConstraints()).toEqual(['runtime_config_key_user_unique']);

    // At 50 % the service serves both paths, each with the right values.
    const service = await startServiceHarness({ databaseUrl: database.url, secretBox, flagName: flag });
    harnesses.push(service);
    // (Unleash makes a write visible to clients within about a second, the client polls every second.)
    let during = await readEveryone(service);
    for (const deadline = Date.now() + 30_000; during.paths.size < 2; during = await readEveryone(service)) {
      if (Date.now() > deadline) throw new Error(`the service serves only ${[...during.paths].join(', ')}`);
      await sleep(250);
    }
    expect(during.paths).toEqual(new Set(['unified', 'legacy']));
    expect(during.wrong).toEqual([]);

    const printed = await runCliInProcess('rollback', rolloutId, '--scope', 'flag', '--reason', 'flag only');
    expect(printed).toBe(
      `rollout ${rolloutId}: rollback requested (scope flag); follow it with rollout watch\n`,
    );
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'rolled_back', percent: 0 });
    expect(await flagPercent(temporal.unleash, flag)).toBe(0);

    // The data stays exactly as migrated.
    expect(await allRows(database.db)).toEqual(configMigrated);
    expect(await templates()).toEqual(templatesMigrated);
    expect(await uniqueConstraints()).toEqual(['runtime_config_key_user_unique']);
    expect(configMigrated).not.toEqual(configBefore);

    // Flag off reaches the service within seconds; then every user is on the legacy path, reading the
    // migrated table right.
    let after = await readEveryone(service);
    for (
      const deadline = Date.now() + 30_000;
      after.paths.has('unified');
      after = await readEveryone(service)
    ) {
      if (Date.now() > deadline) throw new Error('the service still routes users to the unified path');
      await sleep(250);
    }
    expect(after.paths).toEqual(new Set(['legacy']));
    expect(after.wrong).toEqual([]);

    // The unified path on the same migrated table (forced on, as ENABLE_UNIFIED_CONFIG=on does).
    const unified = await startServiceHarness({ databaseUrl: database.url, secretBox, override: 'on' });
    harnesses.push(unified);
    const forced = await readEveryone(unified);
    expect(forced.paths).toEqual(new Set(['unified']));
    expect(forced.wrong).toEqual([]);
  });

  const audit = await listAuditEvents(database.db, rolloutId);
  const kinds = audit.map((e) => e.kind);
  expect(kinds.slice(-4)).toEqual([
    'operator_rollback',
    'rollback_started',
    'flag_rolled_back',
    'rolled_back',
  ]);
  expect(kinds).not.toContain('keys_restored');
  expect(kinds).not.toContain('templates_restored');
  expect(audit.find((e) => e.kind === 'operator_rollback')?.details).toMatchObject({
    scope: 'flag',
    via: 'update',
    reason: 'flag only',
  });
  expect(audit.find((e) => e.kind === 'rollback_started')?.details).toMatchObject({
    scope: 'flag',
    undo: ['ramp'],
  });
});
