import { finalStatus } from '../helpers/rollout-test-helpers';
import { sql, type RawBuilder } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import {
  KEY_UNIQUE_CONSTRAINT,
  discardedRowsTableName,
  uniqueIndexState,
} from '../../activities/key-migration/key-migration';
import { fingerprintTable, type TableFingerprint } from '../../activities/backup/table-backups';
import { RolloutWorkflow } from '../../workflows';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import type { RolloutStatus } from '../../workflows/rollout-status';
import { generateLegacyData } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

// Issue 3, "Must show" 2: SIGKILL the worker process at three points of the key migration and three of the
// template migration; the rollout resumes on a replacement worker and its tables end up identical to those
// of an uninterrupted run on the same data. Sizes are chosen so each phase lasts several seconds on a
// shared 2-core machine (enough to land a kill inside it) while the file stays within a few minutes: every
// kill costs the 15 s heartbeat timeout before the retry starts.
const CONFIG_ROWS = 300_000;
const TEMPLATES = 100_000;

let reference: TestDatabase;
let crashed: TestDatabase;
let temporal: TestTemporal;
const workers: WorkerProcess[] = [];

/** Identical, deterministic legacy data: generateLegacyData hashes ids, the templates derive from g. */
async function loadLegacyData(database: TestDatabase): Promise<void> {
  await generateLegacyData(database.db, { rows: CONFIG_ROWS, skipTriggers: true });
  await sql`
    insert into prompt_templates (id, name, body, llm_preferences, updated_at)
    overriding system value
    select g, 'template ' || g, 'You are a helpful assistant for {{product}}. ' || g,
           case when g % 100 = 0 then jsonb_build_object('temperature', 5, 'maxTokens', 256 + g % 1000)
                when g % 10 = 1 then jsonb_build_object('temperature', 0.7, 'max_tokens', 256 + g % 1000, 'top_p', 0.9)
                when g % 20 = 2 then jsonb_build_object('maxTokens', 256, 'max_tokens', 512, 'temperature', 0.3,
                                                        'topP', 0.95)
                when g % 10 = 3 then jsonb_build_object('maxTokens', 256 + g % 1000, 'temperature', 0.2,
                                                        'teamId', 'team-' || g % 17)
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
}

beforeAll(async () => {
  [reference, crashed] = await Promise.all([
    createTestDatabase('phase_crash_ref'),
    createTestDatabase('phase_crash_kill'),
  ]);
  temporal = await connectTestTemporal('phase-crash');
  await loadLegacyData(reference);
  await loadLegacyData(crashed);
  expect(await fingerprintTable(crashed.db, 'runtime_config')).toEqual(
    await fingerprintTable(reference.db, 'runtime_config'),
  );
  expect(await fingerprintTable(crashed.db, 'prompt_templates')).toEqual(
    await fingerprintTable(reference.db, 'prompt_templates'),
  );
}, 240_000);

afterAll(async () => {
  for (const worker of workers) await worker.kill().catch(() => undefined);
  await temporal?.close();
  await reference?.drop();
  await crashed?.drop();
});

function planFor(flag: string): RolloutPlanInput {
  return {
    flag,
    unleash: { environment: 'development' },
    phases: { seedModels: false },
    backup: { tables: ['runtime_config', 'prompt_templates'] },
    stages: [{ percent: 100, soak: '0s' }],
  };
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(15);
  }
}

/** A statement of the worker's on the crashed database matching `pattern`, active right now. */
async function activeStatement(pattern: string): Promise<string | undefined> {
  const result = await sql<{ query: string }>`
    select left(query, 120) as query from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and state = 'active'
      and query ilike ${pattern}
    limit 1
  `.execute(crashed.db);
  return result.rows[0]?.query.replace(/\s+/g, ' ');
}

async function auditKinds(database: TestDatabase, rolloutId: string): Promise<string[]> {
  return (await listAuditEvents(database.db, rolloutId)).map((event) => event.kind);
}

async function count(database: TestDatabase, query: RawBuilder<unknown>): Promise<number> {
  const result = await sql<{ n: string | number }>`select (${query})::bigint as n`.execute(database.db);
  return Number(result.rows[0]?.n ?? 0);
}

/** A projection of the template ledger and quarantine without the rollout id and timestamps. */
async function ledgerFingerprints(
  database: TestDatabase,
  rolloutId: string,
): Promise<{ changes: TableFingerprint; quarantine: TableFingerprint }> {
  const fingerprint = async (query: RawBuilder<unknown>) => {
    const result = await sql<{ row_count: string; checksum: string }>`
      select count(*)::bigint as row_count,
             coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text as checksum
      from (${query}) t
    `.execute(database.db);
    const row = result.rows[0]!;
    return { rowCount: Number(row.row_count), checksum: row.checksum };
  };
  return {
    changes: await fingerprint(sql`
      select template_id, previous_hash, written_hash, conflicts from template_migration_changes
      where rollout_id = ${rolloutId}`),
    quarantine: await fingerprint(sql`
      select template_id, original, issues, action, dropped from template_quarantine
      where rollout_id = ${rolloutId}`),
  };
}

interface KillRecord {
  point: string;
  evidence: string;
  auditAtKill: string[];
  /** The activity running at the kill, per the server: type, attempt and the checkpoint it holds. */
  pending: { activity: string; attempt: number; checkpoint: string }[];
}

/** What a heartbeat checkpoint says, in short: the key migration's step and cursors, the template cursor. */
function checkpointOf(data: Uint8Array | null | undefined): string {
  if (!data || data.length === 0) return 'none';
  const details = JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown> | null;
  if (!details) return 'none';
  const { step, renameCursor, dedupeCursor, cursor } = details;
  return JSON.stringify({ step, renameCursor, dedupeCursor, cursor });
}

test('SIGKILL at three points of the key migration and three of the template migration: the rollout resumes and ends with the tables of an uninterrupted run', async () => {
  // --- Database A: the same plan, uninterrupted, on an in-process worker.
  const referenceId = `r-ref-${uniqueSuffix()}`;
  const referenceStarted = Date.now();
  const expected: RolloutStatus = await temporal.withWorker(reference.db, () =>
    temporal.client.workflow.execute(RolloutWorkflow, {
      workflowId: referenceId,
      taskQueue: temporal.taskQueue,
      args: [{ rolloutId: referenceId, plan: planFor(`pcref-${uniqueSuffix()}`), requestedBy: 'jest@crash' }],
    }),
  );
  const referenceSeconds = (Date.now() - referenceStarted) / 1000;
  expect(expected.outcome).toBe('completed');
  const expectedKeys = expected.keyMigration!;
  const expectedTemplates = expected.templateMigration!;
  expect(expectedKeys.renamed).toBeGreaterThan(0);
  expect(expectedKeys.discarded).toBeGreaterThan(0);
  expect(expectedTemplates.migrated).toBeGreaterThan(0);
  expect(expectedTemplates.quarantined).toBeGreaterThan(0);

  // --- Database B: the same plan on worker processes, each killed at a point of a data phase.
  const rolloutId = `r-kil-${uniqueSuffix()}`;
  const discardedTable = discardedRowsTableName(rolloutId);
  const kills: KillRecord[] = [];
  let worker = await startWorkerProcess({ taskQueue: temporal.taskQueue, databaseUrl: crashed.url });
  workers.push(worker);
  const handle = await temporal.client.workflow.start(RolloutWorkflow, {
    workflowId: rolloutId,
    taskQueue: temporal.taskQueue,
    args: [{ rolloutId, plan: planFor(`pckil-${uniqueSuffix()}`), requestedBy: 'jest@crash' }],
  });
  const started = Date.now();

  /** Waits for `probe` to report the point, kills the worker there and starts its replacement. */
  const killAt = async (point: string, probe: () => Promise<string | undefined>): Promise<KillRecord> => {
    const evidence = await until(probe, point);
    const described = await handle.describe();
    const pending = (described.raw.pendingActivities ?? []).map((activity) => ({
      activity: activity.activityType?.name ?? '?',
      attempt: activity.attempt ?? 0,
      checkpoint: checkpointOf(activity.heartbeatDetails?.payloads?.[0]?.data),
    }));
    await worker.kill();
    const record = { point, evidence, auditAtKill: await auditKinds(crashed, rolloutId), pending };
    kills.push(record);
    worker = await startWorkerProcess({ taskQueue: temporal.taskQueue, databaseUrl: crashed.url });
    workers.push(worker);
    return record;
  };
  const constraintAttached = () =>
    count(
      crashed,
      sql`select count(*) from pg_constraint where conrelid = 'runtime_config'::regclass and conname = ${KEY_UNIQUE_CONSTRAINT}`,
    );
  const discardedSoFar = async () =>
    (
      await sql<{ found: string | null }>`select to_regclass(${discardedTable})::text as found`.execute(
        crashed.db,
      )
    ).rows[0]?.found
      ? count(crashed, sql`select count(*) from ${sql.table(discardedTable)}`)
      : 0;
  const templatesWritten = () =>
    count(crashed, sql`select count(*) from template_migration_changes where rollout_id = ${rolloutId}`);

  // Key migration 1: inside a rename batch (the UPDATE of runtime_config keys).
  const rename = await killAt('key migration: rename batch', async () => {
    const statement = await activeStatement('%update runtime_config r set key = to_snake_case%');
    return statement && `active: ${statement}; discarded so far ${await discardedSoFar()}`;
  });
  expect(rename.pending).toMatchObject([{ activity: 'migrateKeys', attempt: 1 }]);
  expect(rename.auditAtKill).toContain('backup_verified');
  expect(rename.auditAtKill).not.toContain('keys_migrated');
  expect(await discardedSoFar()).toBe(0);

  // Key migration 2: inside the dedupe sweep, after some of its batches have moved rows aside.
  const dedupe = await killAt('key migration: dedupe batch', async () => {
    const statement = await activeStatement('%with page as materialized%');
    if (!statement) return undefined;
    const moved = await discardedSoFar();
    return moved > 0
      ? `active: ${statement}; discarded so far ${moved} of ${expectedKeys.discarded}`
      : undefined;
  });
  expect(dedupe.pending).toMatchObject([{ activity: 'migrateKeys', attempt: 2 }]);
  expect(dedupe.auditAtKill).not.toContain('keys_migrated');
  const discardedAtDedupeKill = await discardedSoFar();
  expect(discardedAtDedupeKill).toBeGreaterThan(0);
  expect(discardedAtDedupeKill).toBeLessThan(expectedKeys.discarded);

  // Key migration 3: during the concurrent unique index build.
  const indexBuild = await killAt('key migration: unique index build', async () => {
    const statement = await activeStatement('%create unique index concurrently%');
    return statement && `active: ${statement}; index ${await uniqueIndexState(crashed.db)}`;
  });
  expect(indexBuild.pending).toMatchObject([{ activity: 'migrateKeys', attempt: 3 }]);
  expect(indexBuild.auditAtKill).not.toContain('keys_migrated');
  expect(await constraintAttached()).toBe(0);

  // Template migration 1-3: after the first batches, around the middle, near the end (before it completes).
  const templateKill = async (label: string, fromShare: number, attempt: number) => {
    const record = await killAt(label, async () => {
      const written = await templatesWritten();
      if (written < expectedTemplates.migrated * fromShare) return undefined;
      const run = await sql<{ completed_at: Date | null }>`
        select completed_at from template_migrations where rollout_id = ${rolloutId}
      `.execute(crashed.db);
      return `${written} of ${expectedTemplates.migrated} templates written; completed_at ${run.rows[0]?.completed_at ?? 'null'}`;
    });
    expect(record.pending).toMatchObject([{ activity: 'migrateTemplates', attempt }]);
    expect(record.auditAtKill).toContain('keys_migrated');
    expect(record.auditAtKill).not.toContain('templates_migrated');
    expect(record.evidence).toMatch(/completed_at null$/);
    return record;
  };
  await templateKill('template migration: early batch', 0.02, 1);
  await templateKill('template migration: middle batch', 0.5, 2);
  await templateKill('template migration: last batches', 0.9, 3);

  const result = await finalStatus(handle);
  const crashedSeconds = (Date.now() - started) / 1000;
  await worker.stop();
  process.stdout.write(
    `${JSON.stringify({
      referenceSeconds,
      crashedSeconds,
      referencePhaseSeconds: { keys: expectedKeys.seconds, templates: expectedTemplates.seconds },
      kills,
      keysResumedAt: result.keyMigration?.resumedAt,
      templatesResumedFrom: result.templateMigration?.resumedFrom,
      resumeLog: workers.flatMap((w) =>
        w
          .output()
          .split('\n')
          .filter((line) => /resuming|unreadable/.test(line))
          .map((line) => line.slice(0, 200)),
      ),
    })}\n`,
  );

  expect(result.outcome).toBe('completed');
  expect(result.percent).toBe(100);
  // The attempts after the last kills continued from the checkpoint in their heartbeats, not from scratch.
  expect(result.keyMigration?.resumedAt).not.toBeNull();
  expect(result.templateMigration?.resumedFrom).not.toBeNull();
  expect(await auditKinds(crashed, rolloutId)).toEqual(await auditKinds(reference, referenceId));

  // Same tables, row for row (ids, keys, values, user ids, timestamps, llm_preferences).
  for (const table of ['runtime_config', 'prompt_templates']) {
    expect({ table, ...(await fingerprintTable(crashed.db, table)) }).toEqual({
      table,
      ...(await fingerprintTable(reference.db, table)),
    });
  }
  expect(await fingerprintTable(crashed.db, discardedTable)).toEqual(
    await fingerprintTable(reference.db, expectedKeys.discardedTable),
  );
  expect(await ledgerFingerprints(crashed, rolloutId)).toEqual(
    await ledgerFingerprints(reference, referenceId),
  );
  expect(await uniqueIndexState(crashed.db)).toBe('valid');
  expect(await constraintAttached()).toBe(1);

  // Same reports where they describe the data (not the attempts).
  const keys = result.keyMigration!;
  expect({ renamed: keys.renamed, discarded: keys.discarded }).toEqual({
    renamed: expectedKeys.renamed,
    discarded: expectedKeys.discarded,
  });
  expect({ ...keys.verification, problems: keys.verification.problems }).toEqual(expectedKeys.verification);
  const templates = result.templateMigration!;
  const dataFigures = (report: typeof templates) => ({
    migrated: report.migrated,
    unchanged: report.unchanged,
    quarantined: report.quarantined,
    conflictsTotal: report.conflictsTotal,
    unknownFieldsTotal: report.unknownFieldsTotal,
  });
  expect(dataFigures(templates)).toEqual(dataFigures(expectedTemplates));
}, 420_000);
