import { finalStatus } from '../helpers/rollout-test-helpers';
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import { NORMALIZATION_BYPASS_SETTING } from '../../activities/key-migration/key-migration';
import { fingerprintTable } from '../../activities/backup/table-backups';
import { RolloutWorkflow, statusQuery } from '../../workflows';
import type { RolloutStatus } from '../../workflows/rollout-status';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

// Enough rows that copying them takes a moment, so the kill lands inside the backup statement.
const ROWS = 400_000;

let database: TestDatabase;
let temporal: TestTemporal;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase('worker_crash');
  temporal = await connectTestTemporal('crash');
  // Legacy data predates the write-normalization trigger; one statement through it would hold an advisory
  // lock per row (see the issue note on bulk writers).
  await database.db.transaction().execute(async (trx) => {
    await sql`select set_config(${NORMALIZATION_BYPASS_SETTING}, 'on', true)`.execute(trx);
    await sql`
    insert into runtime_config (user_id, key, value, value_type)
    select case when g % 5 = 0 then null else 'user-' || (g % 1000) end, 'key' || g, md5(g::text), 'string'
    from generate_series(1, ${ROWS}) as g
  `.execute(trx);
  });
}, 180_000);

afterAll(async () => {
  for (const worker of workers) await worker.kill().catch(() => undefined);
  await temporal?.close();
  await database?.drop();
});

async function newWorker(): Promise<WorkerProcess> {
  const worker = await startWorkerProcess({ taskQueue: temporal.taskQueue, databaseUrl: database.url });
  workers.push(worker);
  return worker;
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('a worker killed mid-backup and again mid-soak is replaced, and the rollout completes with verified backups', async () => {
  const flag = `crash-${uniqueSuffix()}`;
  const rolloutId = `r-${uniqueSuffix()}`;
  const liveBefore = await fingerprintTable(database.db, 'runtime_config');

  let worker = await newWorker();
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
          stages: [
            { percent: 10, soak: '20s' },
            { percent: 100, soak: '0s' },
          ],
        },
        requestedBy: 'jest@crash',
      },
    ],
  });

  // 1. Kill while the backup copies rows: its transaction dies with the connection.
  await until(async () => {
    const active = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and state = 'active' and query ilike ${'%into "backup_%'}
    `.execute(database.db);
    return (active.rows[0]?.n ?? 0) > 0 ? true : undefined;
  }, 'the backup copy to start');
  await worker.kill();
  expect(
    await sql`select 1 from rollout_backups where rollout_id = ${rolloutId}`.execute(database.db),
  ).toMatchObject({
    rows: [],
  });

  // 2. A new worker retries the backup (after the heartbeat timeout), then the ramp; kill it mid-soak.
  worker = await newWorker();
  const soaking = await until<RolloutStatus>(async () => {
    const status = await handle.query(statusQuery);
    return status.stageIndex === 0 && status.soakEndsAt ? status : undefined;
  }, 'the first stage to soak');
  expect(soaking.percent).toBe(10);
  await worker.kill();

  // 3. A third worker picks the workflow up from history: the timer keeps running server-side.
  worker = await newWorker();
  const result = await finalStatus(handle);
  expect(result.outcome).toBe('completed');
  expect(result.percent).toBe(100);
  await worker.stop();

  const backup = await database.db
    .selectFrom('rollout_backups')
    .selectAll()
    .where('rollout_id', '=', rolloutId)
    .where('source_table', '=', 'runtime_config')
    .executeTakeFirstOrThrow();
  expect(backup).toMatchObject({ row_count: ROWS, checksum: liveBefore.checksum });
  expect(await fingerprintTable(database.db, backup.backup_table)).toEqual(liveBefore);
  const kinds = (await listAuditEvents(database.db, rolloutId)).map((e) => e.kind);
  expect(kinds).toEqual([
    'started',
    'preflight_passed',
    'backup_verified',
    'backup_verified',
    'keys_migrated',
    'templates_migrated',
    'models_seeded',
    'stage_reached',
    'stage_reached',
    'completed',
  ]);
  const readback = await temporal.unleash.readRollout({
    project: 'default',
    environment: 'development',
    flag,
  });
  expect(readback.percent).toBe(100);
});
