import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { sql, type Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import { listAuditEvents } from '../../db/audit-events';
import { getRun } from '../../db/rollout-runs';
import type { Database } from '../../db/schema';
import { backupTableName, tableExists } from '../../activities/backup/table-backups';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { pauseUpdate, rollbackUpdate, RolloutWorkflow, statusQuery } from '../../workflows';
import { allRows, insertLegacyRows } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { flagPercent, waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';

let temporal: TestTemporal;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  temporal = await connectTestTemporal('resilience');
});
afterAll(async () => {
  await temporal?.close();
  for (const database of databases) await database.drop();
});

/** A database of the test's own, so one test's half-restored tables never feed the next one's backup. */
async function freshDatabase(label: string): Promise<Kysely<Database>> {
  const database = await createTestDatabase(label);
  databases.push(database);
  return database.db;
}

/** Legacy data for both data phases: camelCase keys with a duplicate, and templates with camelCase fields. */
async function seedLegacyData(db: Kysely<Database>): Promise<void> {
  await insertLegacyRows(db, [
    { key: 'maxTokens', value: '1024', valueType: 'number', updatedAt: '2026-01-01T00:00:00Z' },
    { key: 'max_tokens', value: '2048', valueType: 'number', updatedAt: '2026-02-01T00:00:00Z' },
    { key: 'topP', value: '0.9', valueType: 'number', userId: 'bob', updatedAt: '2026-01-08T00:00:00Z' },
    { key: 'URLPath', value: '/v1/chat', updatedAt: '2026-01-07T00:00:00Z' },
  ]);
  await db
    .insertInto('prompt_templates')
    .values([
      { name: 'a', body: 'A', llm_preferences: JSON.stringify({ maxTokens: 400, temperature: 0.3 }) },
      { name: 'b', body: 'B', llm_preferences: JSON.stringify({ topP: 0.5, frequencyPenalty: 0.1 }) },
    ])
    .execute();
}

const templates = (db: Kysely<Database>) =>
  sql<{ id: number; llm_preferences: unknown }>`select id, llm_preferences from prompt_templates order by id`
    .execute(db)
    .then((r) => r.rows);

const keys = (db: Kysely<Database>) => allRows(db).then((rows) => rows.map((r) => String(r.key)).sort());

async function start(
  rolloutId: string,
  plan: RolloutPlanInput,
): Promise<WorkflowHandle<typeof RolloutWorkflow>> {
  return temporal.client.workflow.start(RolloutWorkflow, {
    workflowId: rolloutId,
    taskQueue: temporal.taskQueue,
    args: [{ rolloutId, plan, requestedBy: 'jest@resilience' }],
  });
}

/** The error a workflow run ended with (it must have failed). */
async function failureOf(handle: WorkflowHandle): Promise<WorkflowFailedError> {
  const outcome = await handle.result().then(
    (result: unknown) => ({ ok: true as const, result }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok)
    throw new Error(`expected the workflow to fail; it returned ${JSON.stringify(outcome.result)}`);
  expect(outcome.error).toBeInstanceOf(WorkflowFailedError);
  return outcome.error as WorkflowFailedError;
}

/** Every attempt of every `activityType` activity in the run, with how it ended. */
async function activityAttempts(handle: WorkflowHandle, activityType: string) {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType)
      .map((e) => Number(e.eventId)),
  );
  const started = events
    .filter((e) => scheduled.has(Number(e.activityTaskStartedEventAttributes?.scheduledEventId)))
    .map((e) => e.activityTaskStartedEventAttributes!.attempt);
  const failed = events
    .filter((e) => scheduled.has(Number(e.activityTaskFailedEventAttributes?.scheduledEventId)))
    .map((e) => e.activityTaskFailedEventAttributes!.failure!);
  return { scheduled: scheduled.size, started, failed };
}

const dataPlan = (flag: string): RolloutPlanInput => ({
  flag,
  unleash: { environment: 'development' },
  phases: { migrateKeys: true, migrateTemplates: true, seedModels: false },
  backup: { tables: ['runtime_config', 'prompt_templates'] },
  stages: [
    { percent: 10, soak: '5m' },
    { percent: 100, soak: '0s' },
  ],
});

test('one compensation fails, the rest still run: rollback_failed, flag at 0 %, run released for a new rollout', async () => {
  const db = await freshDatabase('resilience_keys');
  await seedLegacyData(db);
  const keysBefore = await keys(db);
  const templatesBefore = await templates(db);
  const rolloutId = `r-${uniqueSuffix()}`;
  const flag = `res-${uniqueSuffix()}`;
  const backup = backupTableName(rolloutId, 'runtime_config');

  await temporal.withWorker(db, async () => {
    const handle = await start(rolloutId, dataPlan(flag));
    await waitForStatus(handle, (s) => s.stageIndex === 0, 'stage 1');
    expect(await flagPercent(temporal.unleash, flag)).toBe(10);
    // Both data phases changed something, so each restore has work to do.
    expect(await keys(db)).not.toEqual(keysBefore);
    expect(await templates(db)).not.toEqual(templatesBefore);

    // The fault: the runtime_config backup disappears while its record stays.
    expect(await tableExists(db, backup)).toBe(true);
    await sql`drop table ${sql.table(backup)}`.execute(db);
    const gone = await sql<{ found: string | null }>`select to_regclass(${backup})::text as found`.execute(
      db,
    );
    expect(gone.rows[0]?.found).toBeNull();

    await handle.executeUpdate(rollbackUpdate, { args: [{ actor: 'dana@ops', reason: 'resilience check' }] });
    const error = await failureOf(handle);
    expect(error.cause).toBeInstanceOf(ApplicationFailure);
    expect((error.cause as ApplicationFailure).type).toBe('RollbackFailed');
    expect(error.cause?.message).toContain(backup);

    // The status query still answers after the failure and says what is left undone.
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('rollback_failed');
    expect(status.percent).toBe(0);
    expect(status.rollbackFailures).toEqual([
      { phase: 'migrate-keys', error: expect.stringContaining(backup) as unknown },
    ]);
    expect(status.operatorAction).toContain('migrate-keys');

    // The missing backup failed the restore on its first attempt, for good: no retries were spent on it.
    const restores = await activityAttempts(handle, 'restoreTable');
    expect(restores.scheduled).toBe(1);
    expect(restores.started).toEqual([1]);
    expect(restores.failed).toHaveLength(1);
    expect(restores.failed[0]?.applicationFailureInfo).toMatchObject({
      type: 'RestorePreconditionFailed',
      nonRetryable: true,
    });
  });

  expect(await flagPercent(temporal.unleash, flag)).toBe(0);
  expect(await templates(db)).toEqual(templatesBefore);
  // Left undone, as reported: the keys keep their migrated spelling.
  expect(await keys(db)).not.toEqual(keysBefore);

  const audit = await listAuditEvents(db, rolloutId);
  expect(audit.map((e) => e.kind).slice(-6)).toEqual([
    'operator_rollback',
    'rollback_started',
    'flag_rolled_back',
    'templates_restored',
    'compensation_failed',
    'rollback_failed',
  ]);
  expect(audit.find((e) => e.kind === 'compensation_failed')?.details).toMatchObject({
    phase: 'migrate-keys',
    error: expect.stringContaining(backup) as unknown,
  });
  expect(audit.some((e) => e.kind === 'keys_restored')).toBe(false);
  expect((await getRun(db, rolloutId))?.state).toBe('rollback_failed');

  // The run row no longer holds the flag: a new rollout of the same flag and environment gets going.
  const nextId = `r-${uniqueSuffix()}`;
  await temporal.withWorker(db, async () => {
    const next = await start(nextId, dataPlan(flag));
    // Past preflight and through its own backup and data phases, on the tables the failed rollback left.
    await waitForStatus(next, (s) => s.stageIndex === 0, 'stage 1 of the new rollout');
    expect(await flagPercent(temporal.unleash, flag)).toBe(10);
    await next.executeUpdate(rollbackUpdate, { args: [{ actor: 'dana@ops', reason: 'only a check' }] });
    expect((await finalStatus(next)).outcome).toBe('rolled_back');
  });
  const nextAudit = (await listAuditEvents(db, nextId)).map((e) => e.kind);
  expect(nextAudit).toContain('preflight_passed');
  expect(nextAudit.at(-1)).toBe('rolled_back');
  expect((await getRun(db, nextId))?.state).toBe('rolled_back');
  expect(await flagPercent(temporal.unleash, flag)).toBe(0);
});

test('a compensation that fails in the middle does not stop the ones after it', async () => {
  const db = await freshDatabase('resilience_templates');
  await seedLegacyData(db);
  const configBefore = await allRows(db);
  const templatesBefore = await templates(db);
  const rolloutId = `r-${uniqueSuffix()}`;
  const flag = `res-${uniqueSuffix()}`;
  const backup = backupTableName(rolloutId, 'prompt_templates');

  await temporal.withWorker(db, async () => {
    const handle = await start(rolloutId, dataPlan(flag));
    await waitForStatus(handle, (s) => s.stageIndex === 0, 'stage 1');
    expect(await allRows(db)).not.toEqual(configBefore);

    // The fault: the templates' backup, whose restore runs before the keys' one, disappears.
    expect(await tableExists(db, backup)).toBe(true);
    await sql`drop table ${sql.table(backup)}`.execute(db);
    expect(await tableExists(db, backup)).toBe(false);

    await handle.executeUpdate(rollbackUpdate, { args: [{ actor: 'dana@ops', reason: 'resilience check' }] });
    expect(((await failureOf(handle)).cause as ApplicationFailure).type).toBe('RollbackFailed');
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ outcome: 'rollback_failed', percent: 0 });
    expect(status.rollbackFailures).toEqual([
      { phase: 'migrate-templates', error: expect.stringContaining(backup) as unknown },
    ]);
  });

  // The key restore, after the failed one, still ran: every runtime_config row is back exactly.
  expect(await allRows(db)).toEqual(configBefore);
  expect(await templates(db)).not.toEqual(templatesBefore);
  expect(await flagPercent(temporal.unleash, flag)).toBe(0);
  const kinds = (await listAuditEvents(db, rolloutId)).map((e) => e.kind);
  expect(kinds.slice(-5)).toEqual([
    'rollback_started',
    'flag_rolled_back',
    'compensation_failed',
    'keys_restored',
    'rollback_failed',
  ]);
  expect((await getRun(db, rolloutId))?.state).toBe('rollback_failed');
});

test('an operator action after a reset is in the audit log', async () => {
  const db = await freshDatabase('resilience_reset');
  const rolloutId = `r-${uniqueSuffix()}`;
  const flag = `res-${uniqueSuffix()}`;
  const plan: RolloutPlanInput = {
    flag,
    unleash: { environment: 'development' },
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    backup: { tables: [] },
    stages: [
      { percent: 10, soak: '5m' },
      { percent: 100, soak: '0s' },
    ],
  };

  await temporal.withWorker(db, async () => {
    const first = await start(rolloutId, plan);
    await waitForStatus(first, (s) => s.stageIndex === 0, 'stage 1');
    const oldRunId = (await first.describe()).runId;
    await expect(
      first.executeUpdate(pauseUpdate, { args: [{ actor: 'before-reset', reason: 'hold' }] }),
    ).resolves.toMatchObject({ paused: true, pausedBy: 'before-reset' });
    const beforeReset = (await listAuditEvents(db, rolloutId)).filter((e) => e.kind === 'operator_pause');
    expect(beforeReset.map((e) => [e.actor, e.dedupe_key])).toEqual([
      ['before-reset', `operator-${oldRunId}-1-pause`],
    ]);

    // The fault: an operator resets the run to its first workflow task, without replaying the pause.
    const history = await first.fetchHistory();
    const firstTaskDone = history.events?.find((e) => e.workflowTaskCompletedEventAttributes);
    expect(firstTaskDone?.eventId).toBeDefined();
    const reset = await temporal.client.workflowService.resetWorkflowExecution({
      namespace: temporal.env.TEMPORAL_NAMESPACE,
      workflowExecution: { workflowId: rolloutId, runId: oldRunId },
      reason: 'jest: reset after an operator pause',
      workflowTaskFinishEventId: firstTaskDone!.eventId,
      requestId: randomUUID(),
      resetReapplyType: proto.api.enums.v1.ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
    });
    const latest = temporal.client.workflow.getHandle<typeof RolloutWorkflow>(rolloutId);
    const newRunId = (await latest.describe()).runId;
    expect(newRunId).toBe(reset.runId);
    expect(newRunId).not.toBe(oldRunId);
    const abandoned = await temporal.client.workflow.getHandle(rolloutId, oldRunId).describe();
    expect(abandoned.status.name).toBe('TERMINATED');

    const again = await waitForStatus(latest, (s) => s.stageIndex === 0, 'stage 1 of the new run');
    expect(again).toMatchObject({ paused: false, pausedBy: null, outcome: 'running' });
    await expect(
      latest.executeUpdate(pauseUpdate, { args: [{ actor: 'after-reset', reason: 'hold again' }] }),
    ).resolves.toMatchObject({ paused: true, pausedBy: 'after-reset' });

    const pauses = (await listAuditEvents(db, rolloutId)).filter((e) => e.kind === 'operator_pause');
    expect(pauses.map((e) => [e.actor, e.dedupe_key])).toEqual([
      ['before-reset', `operator-${oldRunId}-1-pause`],
      ['after-reset', `operator-${newRunId}-1-pause`],
    ]);

    // A rollback while paused in the soak ends the new run as rolled back.
    await latest.executeUpdate(rollbackUpdate, { args: [{ actor: 'after-reset', reason: 'done' }] });
    expect((await finalStatus(latest)).outcome).toBe('rolled_back');
  });

  expect(await flagPercent(temporal.unleash, flag)).toBe(0);
  expect((await getRun(db, rolloutId))?.state).toBe('rolled_back');
  expect((await listAuditEvents(db, rolloutId)).map((e) => e.kind).slice(-3)).toEqual([
    'rollback_started',
    'flag_rolled_back',
    'rolled_back',
  ]);
});
