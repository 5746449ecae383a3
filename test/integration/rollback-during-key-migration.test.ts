import { defaultPayloadConverter } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal as proto } from '@temporalio/proto';
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import {
  keyMigrationProgressSchema,
  type KeyMigrationProgress,
} from '../../activities/key-migration/key-migration';
import { RolloutWorkflow, rollbackUpdate } from '../../workflows';
import { generateLegacyData } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

/**
 * Issue 9, must show 8: a rollback requested in the middle of a key migration of 500,000 rows takes effect
 * within 10 s (the migration activity, cancelled through its heartbeat, stops at a batch boundary and the
 * restore starts) and the restore brings runtime_config back exactly.
 */

const ROWS = 500_000;
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
}, 120_000);

afterAll(async () => {
  await temporal?.close();
  await database?.drop();
});

/** Every row's every column, in id order, as one md5: equal only if the table is exactly the same. */
async function tableChecksum(): Promise<{ rows: number; md5: string }> {
  const result = await sql<{ rows: string; md5: string }>`
    select count(*)::text as rows, md5(string_agg(t::text, E'\\n' order by t.id)) as md5
    from runtime_config t
  `.execute(database.db);
  const row = result.rows[0]!;
  return { rows: Number(row.rows), md5: row.md5 };
}

/** The table's indexes and constraints, by definition. */
async function tableShape(): Promise<string[]> {
  const result = await sql<{ def: string }>`
    select pg_get_indexdef(indexrelid) as def from pg_index where indrelid = 'runtime_config'::regclass
    union all
    select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'runtime_config'::regclass
    order by 1
  `.execute(database.db);
  return result.rows.map((row) => row.def);
}

/** How far the migration got, from its checkpoint: the rename by ids, the dedupe by rows discarded. */
function doneOf(progress: KeyMigrationProgress): { step: string; done: number; total: number } {
  return progress.step === 'rename'
    ? { step: 'rename', done: progress.renameCursor, total: ROWS }
    : { step: progress.step, done: progress.totals.discarded, total: duplicates };
}

const eventMs = (event: proto.api.history.v1.IHistoryEvent) => optionalTsToMs(event.eventTime) ?? NaN;
const { EventType } = proto.api.enums.v1;

test('a rollback mid-way through a 500,000-row key migration stops it within 10 s and restores the table exactly', async () => {
  const before = await tableChecksum();
  const shapeBefore = await tableShape();
  expect(before.rows).toBe(ROWS);
  const rolloutId = `r-${uniqueSuffix()}`;

  await temporal.withWorker(database.db, async () => {
    const handle = await temporal.client.workflow.start(RolloutWorkflow, {
      workflowId: rolloutId,
      taskQueue: temporal.taskQueue,
      args: [
        {
          rolloutId,
          plan: {
            flag: `mid-${uniqueSuffix()}`,
            unleash: { environment: 'development' },
            backup: { tables: ['runtime_config'] },
            phases: { migrateKeys: true, migrateTemplates: false, seedModels: false },
            stages: [{ percent: 100, soak: '0s' }],
          },
          requestedBy: 'jest@rollback-mid-keys',
        },
      ],
    });

    // Mid-way: the migration's own checkpoint (heartbeat details) says some rows are done, not all.
    let midway: ReturnType<typeof doneOf> | undefined;
    for (const deadline = Date.now() + 90_000; midway === undefined; await sleep(50)) {
      if (Date.now() > deadline) throw new Error('the key migration never showed progress mid-way');
      const description = await handle.describe();
      if (description.status.name !== 'RUNNING') throw new Error(`rollout ended: ${description.status.name}`);
      const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === 'migrateKeys');
      const payload = pending?.heartbeatDetails?.payloads?.[0];
      if (!payload) continue;
      const progress = keyMigrationProgressSchema.safeParse(defaultPayloadConverter.fromPayload(payload));
      if (!progress.success || !['rename', 'dedupe'].includes(progress.data.step)) continue;
      const where = doneOf(progress.data);
      if (where.done > 0 && where.done < where.total) midway = where;
    }

    const requestedAt = Date.now();
    await handle.executeUpdate(rollbackUpdate, {
      args: [{ actor: 'jest@rollback-mid-keys', reason: 'stop the migration' }],
    });
    expect((await handle.result()).outcome).toBe('rolled_back');

    // From the history: when the migration activity stopped (cancelled) and the restore started.
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = new Map<string, string>();
    for (const event of events) {
      const name = event.activityTaskScheduledEventAttributes?.activityType?.name;
      if (name) scheduled.set(String(event.eventId), name);
    }
    const activityOf = (id: unknown) => scheduled.get(String(id));
    const cancelled = events.find(
      (e) =>
        e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED &&
        activityOf(e.activityTaskCanceledEventAttributes?.scheduledEventId) === 'migrateKeys',
    );
    const restoreStarted = events.find(
      (e) =>
        e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
        activityOf(e.activityTaskStartedEventAttributes?.scheduledEventId) === 'restoreTable',
    );
    const completedMigration = events.find(
      (e) =>
        e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED &&
        activityOf(e.activityTaskCompletedEventAttributes?.scheduledEventId) === 'migrateKeys',
    );
    expect(completedMigration).toBeUndefined();
    expect(cancelled).toBeDefined();
    expect(restoreStarted).toBeDefined();
    const stoppedS = (eventMs(cancelled!) - requestedAt) / 1000;
    const restoreS = (eventMs(restoreStarted!) - requestedAt) / 1000;
    process.stdout.write(
      `[rollback-mid-keys] requested at ${midway.step} ${midway.done}/${midway.total}; migration stopped after ${stoppedS.toFixed(2)} s, restore started after ${restoreS.toFixed(2)} s\n`,
    );
    expect(stoppedS).toBeLessThan(restoreS);
    expect(restoreS).toBeLessThan(BOUND_S);
  });

  // Every row back exactly (ids, keys, values, timestamps), the duplicates included; the constraint gone.
  expect(await tableChecksum()).toEqual(before);
  expect(await tableShape()).toEqual(shapeBefore);
  const kinds = (await listAuditEvents(database.db, rolloutId)).map((e) => e.kind);
  expect(kinds).not.toContain('keys_migrated');
  expect(kinds.slice(-4)).toEqual(['operator_rollback', 'rollback_started', 'keys_restored', 'rolled_back']);
}, 180_000);
