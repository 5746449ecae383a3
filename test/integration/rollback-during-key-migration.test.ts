import { finalStatus } from '../helpers/rollout-test-helpers';
import { defaultPayloadConverter } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal as proto } from '@temporalio/proto';
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import {
  KEY_UNIQUE_CONSTRAINT,
  keyMigrationProgressSchema,
  runKeyMigration,
  type KeyMigrationStep,
} from '../../activities/key-migration/key-migration';
import { templateMigrationProgressSchema } from '../../activities/template-migration/template-migration';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { RolloutWorkflow, rollbackUpdate } from '../../workflows';
import { backupRuntimeConfig, generateLegacyData, insertLegacyRows } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

/**
 * Issue 9, must show 8: a rollback requested in the middle of a key migration of 500,000 rows takes effect
 * within 10 s (the migration activity, cancelled through its heartbeat, stops at a batch boundary and the
 * restore starts) and the restore brings runtime_config back exactly. The same for the template migration.
 */

const ROWS = 500_000;
const TEMPLATES = 100_000;
/** The must-show's bound, from the rollback request to the migration stopped and the restore started. */
const BOUND_S = 10;

let database: TestDatabase;
let temporal: TestTemporal;
let duplicates: number;

beforeAll(async () => {
  database = await createTestDatabase('rollback_mid_keys');
  temporal = await connectTestTemporal('rollback-mid-keys');
  // Half the keys camelCase, so the rename alone lasts seconds: time to land the rollback inside it.
  ({ duplicates } = await generateLegacyData(database.db, {
    rows: ROWS,
    camelShare: 0.5,
    skipTriggers: true,
  }));
  // camelCase preferences (some with both spellings, some invalid), as in data-phase-crash.test.ts.
  await sql`
    insert into prompt_templates (id, name, body, llm_preferences, updated_at)
    overriding system value
    select g, 'template ' || g, 'You are a helpful assistant. ' || g,
           case when g % 100 = 0 then jsonb_build_object('temperature', 5, 'maxTokens', 256 + g % 1000)
                when g % 20 = 2 then jsonb_build_object('maxTokens', 256, 'max_tokens', 512, 'topP', 0.95)
                else jsonb_build_object('maxTokens', 256 + g % 1000, 'topP', 0.9, 'temperature', 0.7,
                                        'frequencyPenalty', 0.1, 'stopSequences', jsonb_build_array('END'))
           end,
           timestamptz '2025-01-01' + g * interval '1 second'
    from generate_series(1, ${TEMPLATES}::int) as g
  `.execute(database.db);
  await sql`select setval(pg_get_serial_sequence('prompt_templates', 'id'), ${TEMPLATES}::bigint)`.execute(
    database.db,
  );
  await sql`analyze prompt_templates`.execute(database.db);
}, 120_000);

afterAll(async () => {
  await temporal?.close();
  await database?.drop();
});

/** Every row's every column, in id order, as one md5: equal only if the table is exactly the same. */
async function tableChecksum(table: string): Promise<{ rows: number; md5: string }> {
  const result = await sql<{ rows: string; md5: string }>`
    select count(*)::text as rows, md5(string_agg(t::text, E'\\n' order by t.id)) as md5
    from ${sql.table(table)} t
  `.execute(database.db);
  const row = result.rows[0]!;
  return { rows: Number(row.rows), md5: row.md5 };
}

/** The table's indexes and constraints, by definition. */
async function tableShape(table: string): Promise<string[]> {
  const result = await sql<{ def: string }>`
    select pg_get_indexdef(indexrelid) as def from pg_index where indrelid = ${table}::regclass
    union all
    select pg_get_constraintdef(oid) from pg_constraint where conrelid = ${table}::regclass
    order by 1
  `.execute(database.db);
  return result.rows.map((row) => row.def);
}

const eventMs = (event: proto.api.history.v1.IHistoryEvent) => optionalTsToMs(event.eventTime) ?? NaN;
const { EventType } = proto.api.enums.v1;

interface MidPhase {
  table: 'runtime_config' | 'prompt_templates';
  phases: RolloutPlanInput['phases'];
  activity: 'migrateKeys' | 'migrateTemplates';
  restore: 'restoreTable' | 'restoreTemplates';
  /** How far the phase got by its checkpoint (heartbeat details), when they can be read. */
  progress: (details: unknown) => { at: string; done: number; total: number } | undefined;
}

/**
 * Starts a rollout of `phase.table`, waits until the phase's own checkpoint shows it mid-way (done > 0 and
 * < total), asks for a rollback, and returns when the phase stopped and its restore started (seconds after
 * the request, from the workflow history) and where it was.
 */
async function rollBackMidPhase(phase: MidPhase) {
  const rolloutId = `r-${uniqueSuffix()}`;
  return temporal.withWorker(database.db, async () => {
    const handle = await temporal.client.workflow.start(RolloutWorkflow, {
      workflowId: rolloutId,
      taskQueue: temporal.taskQueue,
      args: [
        {
          rolloutId,
          plan: {
            flag: `mid-${uniqueSuffix()}`,
            unleash: { environment: 'development' },
            backup: { tables: [phase.table] },
            phases: phase.phases,
            stages: [{ percent: 100, soak: '0s' }],
          },
          requestedBy: 'jest@rollback-mid-phase',
        },
      ],
    });

    let midway: ReturnType<MidPhase['progress']>;
    for (const deadline = Date.now() + 90_000; midway === undefined; await sleep(50)) {
      if (Date.now() > deadline) throw new Error(`${phase.activity} never showed progress mid-way`);
      const description = await handle.describe();
      if (description.status.name !== 'RUNNING') throw new Error(`rollout ended: ${description.status.name}`);
      const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === phase.activity);
      const payload = pending?.heartbeatDetails?.payloads?.[0];
      if (!payload) continue;
      const where = phase.progress(defaultPayloadConverter.fromPayload(payload));
      if (where && where.done > 0 && where.done < where.total) midway = where;
    }

    const requestedAt = Date.now();
    await handle.executeUpdate(rollbackUpdate, {
      args: [{ actor: 'jest@rollback-mid-phase', reason: 'stop the migration' }],
    });
    expect((await finalStatus(handle)).outcome).toBe('rolled_back');

    // From the history: when the phase's activity stopped (cancelled) and the restore started.
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = new Map<string, string>();
    for (const event of events) {
      const name = event.activityTaskScheduledEventAttributes?.activityType?.name;
      if (name) scheduled.set(String(event.eventId), name);
    }
    const find = (type: number, activity: string) =>
      events.find((e) => {
        const attributes =
          e.activityTaskCanceledEventAttributes ??
          e.activityTaskStartedEventAttributes ??
          e.activityTaskCompletedEventAttributes;
        return e.eventType === type && scheduled.get(String(attributes?.scheduledEventId)) === activity;
      });
    expect(find(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, phase.activity)).toBeUndefined();
    const cancelled = find(EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED, phase.activity);
    const restoreStarted = find(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, phase.restore);
    expect(cancelled).toBeDefined();
    expect(restoreStarted).toBeDefined();
    const stoppedS = (eventMs(cancelled!) - requestedAt) / 1000;
    const restoreS = (eventMs(restoreStarted!) - requestedAt) / 1000;
    process.stdout.write(
      `[rollback-mid-phase] ${phase.activity}: requested at ${midway.at} ${midway.done}/${midway.total}; stopped after ${stoppedS.toFixed(2)} s, restore started after ${restoreS.toFixed(2)} s\n`,
    );
    const kinds = (await listAuditEvents(database.db, rolloutId)).map((e) => e.kind);
    return { stoppedS, restoreS, kinds };
  });
}

test('a rollback mid-way through a 500,000-row key migration stops it within 10 s and restores the table exactly', async () => {
  const before = await tableChecksum('runtime_config');
  const shapeBefore = await tableShape('runtime_config');
  expect(before.rows).toBe(ROWS);

  const { stoppedS, restoreS, kinds } = await rollBackMidPhase({
    table: 'runtime_config',
    phases: { migrateKeys: true, migrateTemplates: false, seedModels: false },
    activity: 'migrateKeys',
    restore: 'restoreTable',
    // The rename counted by ids, the dedupe by rows discarded.
    progress: (details) => {
      const parsed = keyMigrationProgressSchema.safeParse(details);
      if (!parsed.success) return undefined;
      const progress = parsed.data;
      if (progress.step === 'rename') return { at: 'rename', done: progress.renameCursor, total: ROWS };
      if (progress.step === 'dedupe')
        return { at: 'dedupe', done: progress.totals.discarded, total: duplicates };
      return undefined;
    },
  });
  expect(stoppedS).toBeLessThan(restoreS);
  expect(restoreS).toBeLessThan(BOUND_S);

  // Every row back exactly (ids, keys, values, timestamps), the duplicates included; the constraint gone.
  expect(await tableChecksum('runtime_config')).toEqual(before);
  expect(await tableShape('runtime_config')).toEqual(shapeBefore);
  expect(kinds).not.toContain('keys_migrated');
  expect(kinds.slice(-4)).toEqual(['operator_rollback', 'rollback_started', 'keys_restored', 'rolled_back']);
}, 180_000);

test('a rollback mid-way through the template migration of 100,000 templates stops it and restores them exactly', async () => {
  const before = await tableChecksum('prompt_templates');
  expect(before.rows).toBe(TEMPLATES);

  const { stoppedS, restoreS, kinds } = await rollBackMidPhase({
    table: 'prompt_templates',
    phases: { migrateKeys: false, migrateTemplates: true, seedModels: false },
    activity: 'migrateTemplates',
    restore: 'restoreTemplates',
    progress: (details) => {
      const parsed = templateMigrationProgressSchema.safeParse(details);
      return parsed.success ? { at: 'template', done: parsed.data.cursor, total: TEMPLATES } : undefined;
    },
  });
  expect(stoppedS).toBeLessThan(restoreS);
  expect(restoreS).toBeLessThan(BOUND_S);

  expect(await tableChecksum('prompt_templates')).toEqual(before);
  expect(kinds).not.toContain('templates_migrated');
  expect(kinds.slice(-4)).toEqual([
    'operator_rollback',
    'rollback_started',
    'templates_restored',
    'rolled_back',
  ]);
}, 180_000);

test.each(['constraint', 'verify'] as const)(
  'a key migration cancelled once its sweeps are done stops before the %s step (each reads the whole table)',
  async (step: KeyMigrationStep) => {
    const small = await createTestDatabase(`abort_before_${step}`);
    try {
      await insertLegacyRows(small.db, [
        { key: 'maxTokens', value: '1' },
        { key: 'max_tokens', value: '2' },
      ]);
      const rolloutId = `r-${uniqueSuffix()}`;
      await backupRuntimeConfig(small.db, rolloutId);
      const controller = new AbortController();
      const reached: KeyMigrationStep[] = [];
      const migration = runKeyMigration(small.db, {
        rolloutId,
        signal: controller.signal,
        onProgress: (progress) => {
          reached.push(progress.step);
          if (progress.step === step) controller.abort(new Error(`cancelled at ${step}`));
        },
      });
      await expect(migration).rejects.toThrow(`cancelled at ${step}`);
      expect(reached.at(-1)).toBe(step);
      const constraint = await sql<{ n: number }>`
        select count(*)::int as n from pg_constraint where conname = ${KEY_UNIQUE_CONSTRAINT}
      `.execute(small.db);
      // Cancelled before the index build: no constraint; cancelled after it: the constraint, but no verification.
      expect(constraint.rows[0]?.n).toBe(step === 'constraint' ? 0 : 1);
    } finally {
      await small.drop();
    }
  },
);
