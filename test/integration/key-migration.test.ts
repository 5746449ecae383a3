import { sql } from 'kysely';
import {
  DuplicateKeyGroupsError,
  KEY_UNIQUE_CONSTRAINT,
  dedupeBatch,
  discardedRowsTableName,
  ensureDiscardedRowsTable,
  ensureUniqueKeyConstraint,
  renameBatch,
  runKeyMigration,
  uniqueIndexState,
  type KeyMigrationProgress,
} from '../../activities/key-migration/key-migration';
import { MissingBackupError, fingerprintTable } from '../../activities/backup/table-backups';
import {
  allRows,
  backupRuntimeConfig,
  generateLegacyData,
  insertLegacyRows,
  type LegacyRow,
} from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('key_migration');
});
afterAll(() => t?.drop());

beforeEach(async () => {
  await sql`alter table runtime_config drop constraint if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(
    t.db,
  );
  await sql`drop index if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(t.db);
  await sql`truncate runtime_config restart identity`.execute(t.db);
});

let rolloutCounter = 0;
function nextRolloutId(): string {
  rolloutCounter++;
  return `r-km-${String(rolloutCounter).padStart(4, '0')}`;
}

async function liveRows() {
  return (await allRows(t.db)).map((row) => ({
    id: row.id,
    key: row.key,
    user_id: row.user_id,
    value: row.value,
  }));
}

const day = (n: number) => new Date(Date.UTC(2025, 0, n));

test('renames with to_snake_case, keeps the most recent row of each group (NULL users together), adds the constraint', async () => {
  await insertLegacyRows(t.db, [
    { id: 1, key: 'maxTokens', userId: 'alice', value: 'alice-new', updatedAt: day(20) },
    { id: 2, key: 'max_tokens', userId: 'alice', value: 'alice-old', updatedAt: day(10) },
    { id: 3, key: 'MaxTokens', userId: null, value: 'global-old', updatedAt: day(1) },
    { id: 4, key: 'max-tokens', userId: null, value: 'global-new', updatedAt: day(30) },
    { id: 5, key: 'max_tokens', userId: null, value: 'global-mid', updatedAt: day(15) },
    { id: 6, key: 'URLPath', userId: 'bob', value: 'u' },
    { id: 7, key: 'top_p', userId: 'bob', value: 'p' },
    // Same updated_at: the higher id wins.
    { id: 8, key: 'topK', userId: 'carol', value: 'k-low-id', updatedAt: day(5) },
    { id: 9, key: 'top_k', userId: 'carol', value: 'k-high-id', updatedAt: day(5) },
  ]);
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);

  const report = await runKeyMigration(t.db, {
    rolloutId,
    maxBatchSize: 2,
    minBatchSize: 1,
    initialBatchSize: 2,
  });

  expect(await liveRows()).toEqual([
    { id: 1, key: 'max_tokens', user_id: 'alice', value: 'alice-new' },
    { id: 4, key: 'max_tokens', user_id: null, value: 'global-new' },
    { id: 6, key: 'url_path', user_id: 'bob', value: 'u' },
    { id: 7, key: 'top_p', user_id: 'bob', value: 'p' },
    { id: 9, key: 'top_k', user_id: 'carol', value: 'k-high-id' },
  ]);
  expect(report).toMatchObject({ renamed: 3, discarded: 4, constraint: { outcome: 'built' } });
  expect(report.batches).toBeGreaterThan(4);
  expect(report.verification).toMatchObject({
    keysNotNormalized: 0,
    duplicateGroups: 0,
    constraintValid: true,
    backupRows: 9,
    liveRows: 5,
    discardedFromBackup: 4,
    insertedAfterBackup: 0,
    deletedAfterBackup: 0,
    problems: [],
  });
  const discarded = await sql<{ id: number; key: string; value: string }>`
    select id, key, value from ${sql.table(report.discardedTable)} order by id
  `.execute(t.db);
  expect(discarded.rows).toEqual([
    { id: 2, key: 'max_tokens', value: 'alice-old' },
    { id: 3, key: 'max_tokens', value: 'global-old' },
    { id: 5, key: 'max_tokens', value: 'global-mid' },
    { id: 8, key: 'top_k', value: 'k-low-id' },
  ]);
});

test('a group whose rows lie far apart in id order is deduped as a whole across batches', async () => {
  const group: Record<number, LegacyRow> = {
    1: { id: 1, key: 'llm.maxTokens', userId: 'u', updatedAt: day(2), value: 'first' },
    100: { id: 100, key: 'llm.MaxTokens', userId: 'u', updatedAt: day(9), value: 'newest' },
    200: { id: 200, key: 'llm.max_tokens', userId: 'u', updatedAt: day(4), value: 'last-id' },
  };
  const rows = Array.from(
    { length: 200 },
    (_, i) => group[i + 1] ?? { id: i + 1, key: `filler${i}Key`, userId: 'u' },
  );
  await insertLegacyRows(t.db, rows);
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);

  // One key per rename batch and one index entry per dedupe page: each row of the group is renamed in a
  // batch of its own, and no page holds the whole group.
  const report = await runKeyMigration(t.db, {
    rolloutId,
    maxBatchSize: 1,
    minBatchSize: 1,
    initialBatchSize: 1,
  });

  expect((await liveRows()).filter((row) => row.key === 'llm.max_tokens')).toEqual([
    { id: 100, key: 'llm.max_tokens', user_id: 'u', value: 'newest' },
  ]);
  expect(report.discarded).toBe(2);
  // 197 fillers and the surviving row of the group; the discarded ones are counted as discarded.
  expect(report.renamed).toBe(198);
  expect(report.batches).toBeGreaterThan(400);
});

test('the dedupe sweep handles a group larger than a page and a key spanning many pages', async () => {
  const rows = [
    ...Array.from({ length: 30 }, (_, i) => ({
      key: 'hot_key',
      userId: null,
      value: `g${i}`,
      updatedAt: day(1 + i),
    })),
    ...Array.from({ length: 40 }, (_, i) => ({
      key: 'hot_key',
      userId: `user-${String(i).padStart(2, '0')}`,
      updatedAt: day(1),
    })),
    { key: 'hotKey', userId: 'user-07', value: 'newer', updatedAt: new Date() },
  ];
  await insertLegacyRows(t.db, rows);
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);

  const report = await runKeyMigration(t.db, {
    rolloutId,
    maxBatchSize: 4,
    minBatchSize: 4,
    initialBatchSize: 4,
  });

  const live = await liveRows();
  expect(live.filter((row) => row.user_id === null)).toEqual([
    expect.objectContaining({ key: 'hot_key', value: 'g29' }),
  ]);
  expect(live.filter((row) => row.user_id === 'user-07')).toEqual([
    expect.objectContaining({ key: 'hot_key', value: 'newer' }),
  ]);
  expect(live).toHaveLength(41);
  expect(report.discarded).toBe(30);
});

test('resuming from an older checkpoint after a crash applies nothing twice and ends like an uninterrupted run', async () => {
  await generateLegacyData(t.db, { rows: 5_000 });
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);
  const discardedTable = await ensureDiscardedRowsTable(t.db, rolloutId);

  // The "crashed" attempt: renamed ids 1..3000 and swept part of the index, but its last heartbeat said 1000.
  const first = await renameBatch(t.db, 0, 3_000, 100_000);
  expect(first.renamed).toBeGreaterThan(0);
  const again = await renameBatch(t.db, 0, 3_000, 100_000);
  expect(again.renamed).toBe(0);
  const checkpoint: KeyMigrationProgress = {
    step: 'rename',
    renameCursor: 1_000,
    dedupeCursor: null,
    renameBatchSize: 500,
    dedupeBatchSize: 500,
    totals: {
      renamed: 0,
      discarded: 0,
      batches: 0,
      maxBatchMs: 0,
      maxStatementMs: 0,
      lockRetries: 0,
      timeoutRetries: 0,
    },
  };
  const checkpoints: KeyMigrationProgress[] = [];
  const resumed = await runKeyMigration(t.db, {
    rolloutId,
    resume: checkpoint,
    onProgress: (progress) => checkpoints.push(progress),
  });
  expect(resumed.resumedAt).toBe('rename');
  expect(checkpoints[0]?.renameCursor).toBeGreaterThan(1_000);
  const after = await fingerprintTable(t.db, 'runtime_config');
  const discardedAfter = await fingerprintTable(t.db, discardedTable);

  // A dedupe page replayed, then the whole phase replayed: nothing changes.
  const replay = await dedupeBatch(t.db, discardedTable, { kind: 'start' }, 1_000);
  expect(replay.discarded).toBe(0);
  const rerun = await runKeyMigration(t.db, { rolloutId });
  expect(rerun.constraint.outcome).toBe('existed');
  expect(rerun.batches).toBeGreaterThan(0);
  expect(await fingerprintTable(t.db, 'runtime_config')).toEqual(after);
  expect(await fingerprintTable(t.db, discardedTable)).toEqual(discardedAfter);

  // The uninterrupted run on the same data (same generator, fresh rollout) ends identical.
  await sql`alter table runtime_config drop constraint ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(t.db);
  await sql`truncate runtime_config restart identity`.execute(t.db);
  await generateLegacyData(t.db, { rows: 5_000 });
  const reference = nextRolloutId();
  await backupRuntimeConfig(t.db, reference);
  const clean = await runKeyMigration(t.db, { rolloutId: reference });
  expect(await fingerprintTable(t.db, 'runtime_config')).toEqual(after);
  expect(clean.discarded).toBe(resumed.discarded);
  expect(await fingerprintTable(t.db, discardedRowsTableName(reference))).toEqual(discardedAfter);
});

test('an INVALID index left by an interrupted build is dropped and rebuilt; a duplicate makes the build ask for a dedupe', async () => {
  await insertLegacyRows(t.db, [
    { key: 'max_tokens', userId: null, value: 'a', updatedAt: day(1) },
    { key: 'max_tokens', userId: null, value: 'b', updatedAt: day(2) },
  ]);
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);
  // Exactly what an interrupted or failed concurrent build leaves behind.
  await expect(
    sql`create unique index concurrently ${sql.id(KEY_UNIQUE_CONSTRAINT)} on runtime_config (key, user_id) nulls not distinct`.execute(
      t.db,
    ),
  ).rejects.toMatchObject({ code: '23505' });
  expect(await uniqueIndexState(t.db)).toBe('invalid');

  await expect(ensureUniqueKeyConstraint(t.db)).rejects.toBeInstanceOf(DuplicateKeyGroupsError);
  expect(await uniqueIndexState(t.db)).toBe('invalid');

  const report = await runKeyMigration(t.db, { rolloutId });
  expect(report.constraint).toMatchObject({ outcome: 'built', droppedInvalidIndex: true });
  expect(await uniqueIndexState(t.db)).toBe('valid');
  expect(await liveRows()).toEqual([expect.objectContaining({ value: 'b' })]);
});

test('a valid index whose constraint was never attached (crash between the two) is attached, not rebuilt', async () => {
  await insertLegacyRows(t.db, [{ key: 'top_p', value: '1' }]);
  await sql`create unique index concurrently ${sql.id(KEY_UNIQUE_CONSTRAINT)} on runtime_config (key, user_id) nulls not distinct`.execute(
    t.db,
  );
  expect(await ensureUniqueKeyConstraint(t.db)).toMatchObject({
    outcome: 'attached',
    droppedInvalidIndex: false,
  });
  expect(await ensureUniqueKeyConstraint(t.db)).toMatchObject({ outcome: 'existed' });
});

test('refuses to run without a verified backup of the rollout', async () => {
  await insertLegacyRows(t.db, [{ key: 'maxTokens' }]);
  await expect(runKeyMigration(t.db, { rolloutId: 'r-km-nobackup' })).rejects.toBeInstanceOf(
    MissingBackupError,
  );
  expect(await liveRows()).toEqual([expect.objectContaining({ key: 'maxTokens' })]);
});

test('batch sizes adapt to the target time within their bounds, by at most ×1.5 / ÷2 a step', async () => {
  await generateLegacyData(t.db, { rows: 20_000 });
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);
  const sizes = { rename: [] as number[], dedupe: [] as number[] };
  await runKeyMigration(t.db, {
    rolloutId,
    targetBatchMs: 40,
    initialBatchSize: 200,
    minBatchSize: 10,
    maxBatchSize: 4_000,
    onProgress: (progress) => {
      if (progress.lastBatch) sizes[progress.lastBatch.step].push(progress.lastBatch.size);
    },
  });
  // Index entries are cheap: the dedupe pages grow from the initial size towards the bound.
  expect(Math.max(...sizes.dedupe)).toBeGreaterThan(200);
  for (const series of [sizes.rename, sizes.dedupe]) {
    expect(series.length).toBeGreaterThan(2);
    expect(Math.max(...series)).toBeLessThanOrEqual(4_000);
    expect(Math.min(...series)).toBeGreaterThanOrEqual(10);
    for (let i = 1; i < series.length; i++) {
      const ratio = (series[i] ?? 0) / (series[i - 1] ?? 1);
      expect(ratio).toBeLessThanOrEqual(1.51);
      expect(ratio).toBeGreaterThanOrEqual(0.49);
    }
  }
});

test('a duplicate that appears after the sweep makes the constraint build fail; the phase sweeps again and builds it', async () => {
  await insertLegacyRows(t.db, [{ key: 'top_p', userId: 'u', value: 'old', updatedAt: day(1) }]);
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);
  // As if a writer had slipped a duplicate in (past the trigger) after the sweep, before the index build.
  await insertLegacyRows(t.db, [{ key: 'top_p', userId: 'u', value: 'new', updatedAt: day(2) }]);
  const report = await runKeyMigration(t.db, {
    rolloutId,
    resume: {
      step: 'constraint',
      renameCursor: 2,
      dedupeCursor: { key: 'top_p', userId: null },
      renameBatchSize: 100,
      dedupeBatchSize: 100,
      totals: {
        renamed: 0,
        discarded: 0,
        batches: 2,
        maxBatchMs: 1,
        maxStatementMs: 1,
        lockRetries: 0,
        timeoutRetries: 0,
      },
    },
  });
  expect(report.constraint).toMatchObject({ outcome: 'built', droppedInvalidIndex: true });
  expect(await liveRows()).toEqual([{ id: 2, key: 'top_p', user_id: 'u', value: 'new' }]);
  // The backup row discarded, the late one inserted after the backup: the counts reconcile.
  expect(report.verification).toMatchObject({ discardedFromBackup: 1, insertedAfterBackup: 1, problems: [] });
});
