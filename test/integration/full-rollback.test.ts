import { finalStatus } from '../helpers/rollout-test-helpers';
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import { setConfig } from '../../db/runtime-config-queries';
import { RolloutWorkflow, rollbackUpdate, statusQuery } from '../../workflows';
import { allRows, insertLegacyRows } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

let database: TestDatabase;
let temporal: TestTemporal;

beforeAll(async () => {
  database = await createTestDatabase('full_rollback');
  temporal = await connectTestTemporal('rollback');
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
  ]);
  await database.db
    .insertInto('prompt_templates')
    .values([
      { name: 'a', body: 'A', llm_preferences: JSON.stringify({ maxTokens: 400, temperature: 0.3 }) },
      { name: 'b', body: 'B', llm_preferences: JSON.stringify({ temperature: 9 }) },
    ])
    .execute();
});

afterAll(async () => {
  await temporal?.close();
  await database?.drop();
});

const templates = () =>
  sql<{ id: number; llm_preferences: unknown }>`select id, llm_preferences from prompt_templates order by id`
    .execute(database.db)
    .then((r) => r.rows);

test('a rollback after the data phases puts every original row back and keeps the writes made since', async () => {
  const configBefore = await allRows(database.db);
  const templatesBefore = await templates();
  const rolloutId = `r-${uniqueSuffix()}`;
  const flag = `rb-${uniqueSuffix()}`;

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
            stages: [
              { percent: 20, soak: '10m' },
              { percent: 100, soak: '0s' },
            ],
          },
          requestedBy: 'jest@rollback',
        },
      ],
    });
    for (;;) {
      const status = await handle.query(statusQuery);
      if (status.stageIndex === 0) break;
      if (status.outcome !== 'running') throw new Error(`rollout ended early: ${status.error}`);
      await sleep(100);
    }
    // The migration ran: keys are snake_case and deduped.
    expect((await allRows(database.db)).map((r) => r.key).sort()).toEqual([
      'max_tokens',
      'max_tokens',
      'top_p',
      'url_path',
    ]);

    // An application writes while the new path soaks: a new key, and a change to a migrated row.
    await setConfig(database.db, { key: 'streamResponses', userId: null, value: true, valueType: 'boolean' });
    await setConfig(database.db, { key: 'topP', value: 0.5, valueType: 'number', userId: 'bob' });

    await handle.executeUpdate(rollbackUpdate, {
      args: [{ actor: 'jest@rollback', reason: 'end-to-end check' }],
    });
    expect((await finalStatus(handle)).outcome).toBe('rolled_back');
  });

  const after = await allRows(database.db);
  // Every original row that no one wrote since is back exactly: key spelling, duplicates, ids, timestamps.
  const untouchedBefore = configBefore.filter((r) => r.key !== 'topP');
  for (const row of untouchedBefore) expect(after).toContainEqual(row);
  // The writes made after the backup are kept: bob's new value and the new key.
  expect(after.find((r) => r.user_id === 'bob')).toMatchObject({ key: 'top_p', value: '0.5' });
  expect(after.find((r) => r.key === 'stream_responses')).toMatchObject({
    value: 'true',
    value_type: 'boolean',
  });
  expect(after).toHaveLength(configBefore.length + 1);
  expect(await templates()).toEqual(templatesBefore);

  const audit = await listAuditEvents(database.db, rolloutId);
  const restored = audit.find((e) => e.kind === 'keys_restored');
  expect(restored?.details).toMatchObject({ kept: { insertedAfterBackup: 1, writtenAfterBackup: 1 } });
  expect(audit.map((e) => e.kind).slice(-6)).toEqual([
    'rollback_started',
    'flag_rolled_back',
    'seeding_rolled_back',
    'templates_restored',
    'keys_restored',
    'rolled_back',
  ]);
});
