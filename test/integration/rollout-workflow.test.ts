import { WorkflowFailedError } from '@temporalio/client';
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import { getRun } from '../../db/rollout-runs';
import { fingerprintTable } from '../../activities/backup/table-backups';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { RolloutWorkflow, statusQuery } from '../../workflows';
import { insertLegacyRows } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { evaluateOncePropagated } from '../helpers/unleash-evaluation';
import { waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';

const USERS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const STAGES = [10, 50, 100];

let database: TestDatabase;
let temporal: TestTemporal;

beforeAll(async () => {
  database = await createTestDatabase('rollout_workflow');
  temporal = await connectTestTemporal('rollout');
  // Legacy data predates the write-normalization trigger: camelCase keys and a duplicate group.
  await insertLegacyRows(database.db, [
    { key: 'maxTokens', value: '1000', valueType: 'number' },
    { key: 'max_tokens', value: '2000', valueType: 'number' },
    { key: 'topP', value: '0.9', valueType: 'number', userId: 'alice' },
  ]);
  await database.db
    .insertInto('prompt_templates')
    .values({
      name: 'greeting',
      body: 'Hello {{name}}',
      llm_preferences: JSON.stringify({ maxTokens: 200, temperature: 0.2 }),
    })
    .execute();
});

afterAll(async () => {
  await temporal?.close();
  await database?.drop();
});

function plan(flag: string, soak: string): RolloutPlanInput {
  return {
    flag,
    unleash: { project: 'default', environment: 'development' },
    stages: STAGES.map((percent, i) => ({ percent, soak: i === STAGES.length - 1 ? '0s' : soak })),
  };
}

test('a rollout backs up, ramps the real Unleash flag stage by stage with growing cohorts, and completes', async () => {
  const flag = `it-ramp-${uniqueSuffix()}`;
  const rolloutId = `r-${uniqueSuffix()}`;
  const liveBefore = await fingerprintTable(database.db, 'runtime_config');

  await temporal.withWorker(database.db, async () => {
    const handle = await temporal.client.workflow.start(RolloutWorkflow, {
      workflowId: rolloutId,
      taskQueue: temporal.taskQueue,
      args: [{ rolloutId, plan: plan(flag, '8s'), requestedBy: 'jest@test' }],
      typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
    });

    let previouslyEnabled = new Set<string>();
    for (const [index, percent] of STAGES.entries()) {
      await waitForStatus(handle, (s) => s.stageIndex === index, `stage ${index + 1}`);

      const readback = await temporal.unleash.readRollout({
        project: 'default',
        environment: 'development',
        flag,
      });
      expect(readback).toMatchObject({
        percent,
        enabled: true,
        stickiness: 'userId',
        groupId: flag,
        foreignStrategies: [],
      });

      const { enabled, clientPercent } = await evaluateOncePropagated(temporal.env, flag, USERS, percent);
      expect(clientPercent).toBe(String(percent));
      const share = (enabled.size / USERS.length) * 100;
      expect(Math.abs(share - percent)).toBeLessThanOrEqual(2);
      const dropped = [...previouslyEnabled].filter((id) => !enabled.has(id));
      expect(dropped).toEqual([]);
      previouslyEnabled = enabled;
    }

    const result = await finalStatus(handle);
    expect(result.outcome).toBe('completed');
    expect(result.percent).toBe(100);
    expect(result.events.map((e) => e.kind)).toEqual([
      'started',
      'preflight_passed',
      'backup_verified',
      'backup_verified',
      'backup_verified',
      'keys_migrated',
      'templates_migrated',
      'models_seeded',
      'stage_reached',
      'stage_reached',
      'stage_reached',
      'completed',
    ]);
  });

  // The backup is a verified copy: same rows and checksum as the live table had.
  const backups = await database.db
    .selectFrom('rollout_backups')
    .selectAll()
    .where('rollout_id', '=', rolloutId)
    .execute();
  expect(backups.map((b) => b.source_table).sort()).toEqual([
    'model_catalog',
    'prompt_templates',
    'runtime_config',
  ]);
  const configBackup = backups.find((b) => b.source_table === 'runtime_config')!;
  expect(await fingerprintTable(database.db, configBackup.backup_table)).toEqual(liveBefore);
  expect(configBackup).toMatchObject({ row_count: 3, checksum: liveBefore.checksum });

  const run = await getRun(database.db, rolloutId);
  expect(run).toMatchObject({ state: 'completed', phase: 'complete', percent: 100, flag });
  const audit = await listAuditEvents(database.db, rolloutId);
  expect(audit.filter((e) => e.kind === 'stage_reached').map((e) => e.details.percent)).toEqual(STAGES);
  expect(audit[0]).toMatchObject({ kind: 'started', actor: 'jest@test' });

  // The audit log is append-only.
  await expect(
    sql`delete from rollout_audit_events where rollout_id = ${rolloutId}`.execute(database.db),
  ).rejects.toThrow(/append-only/);

  // Findable by flag in the Temporal UI's list (visibility is eventually consistent).
  const listed: string[] = [];
  for (let i = 0; i < 50 && listed.length === 0; i++) {
    for await (const info of temporal.client.workflow.list({ query: `RolloutFlag = "${flag}"` }))
      listed.push(info.workflowId);
    if (listed.length === 0) await sleep(200);
  }
  expect(listed).toEqual([rolloutId]);
});

test('a second rollout of the same flag is refused, and cancelling the first rolls the flag back to 0%', async () => {
  const flag = `it-conflict-${uniqueSuffix()}`;
  const first = `r-${uniqueSuffix()}`;
  const second = `r-${uniqueSuffix()}`;

  await temporal.withWorker(database.db, async () => {
    const handle = await temporal.client.workflow.start(RolloutWorkflow, {
      workflowId: first,
      taskQueue: temporal.taskQueue,
      args: [{ rolloutId: first, plan: plan(flag, '10m'), requestedBy: 'jest@test' }],
    });
    await waitForStatus(handle, (s) => s.stageIndex === 0, 'first stage');

    const refused = temporal.client.workflow.execute(RolloutWorkflow, {
      workflowId: second,
      taskQueue: temporal.taskQueue,
      args: [{ rolloutId: second, plan: plan(flag, '1s'), requestedBy: 'jest@test' }],
    });
    await expect(refused).rejects.toThrow(WorkflowFailedError);
    await refused.catch((error: WorkflowFailedError) => {
      expect((error.cause?.cause as Error | undefined)?.message).toContain(
        `already has a running rollout (${first})`,
      );
    });

    await handle.cancel();
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    const final = await handle.query(statusQuery);
    expect(final.outcome).toBe('cancelled');
    expect(final.percent).toBe(0);
  });

  const readback = await temporal.unleash.readRollout({
    project: 'default',
    environment: 'development',
    flag,
  });
  expect(readback.percent).toBe(0);
  const { enabled, clientPercent } = await evaluateOncePropagated(temporal.env, flag, USERS, 0);
  expect(clientPercent).toBe('0');
  expect(enabled.size).toBe(0);
  expect(await getRun(database.db, first)).toMatchObject({ state: 'cancelled', percent: 0 });
  expect(await getRun(database.db, second)).toBeUndefined();
  const kinds = (await listAuditEvents(database.db, first)).map((e) => e.kind);
  expect(kinds.slice(-6)).toEqual([
    'rollback_started',
    'flag_rolled_back',
    'seeding_rolled_back',
    'templates_restored',
    'keys_restored',
    'cancelled',
  ]);
  // The catalogue is as it was before this rollout (the first test's seeding); nothing it owned is left.
  const seedingChanges = await database.db
    .selectFrom('model_seeding_changes')
    .select(['action', 'rollback_outcome'])
    .where('rollout_id', '=', first)
    .execute();
  expect(seedingChanges.filter((c) => c.rollback_outcome === null)).toEqual([]);
});
