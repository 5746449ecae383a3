import { sql } from 'kysely';
import { KEY_UNIQUE_CONSTRAINT, runKeyMigration } from '../../activities/key-migration/key-migration';
import { fingerprintTable, findBackupRecord } from '../../activities/backup/table-backups';
import { restoreKeys, type KeyRestoreReport } from '../../activities/key-migration/key-restore';
import {
  allRows,
  backupRuntimeConfig,
  generateLegacyData,
  insertLegacyRows,
} from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('table_restore');
});
afterAll(() => t?.drop());

beforeEach(async () => {
  await sql`alter table runtime_config drop constraint if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(
    t.db,
  );
  await sql`truncate runtime_config restart identity`.execute(t.db);
});

let counter = 0;
const nextRolloutId = () => `r-tr-${String(++counter).padStart(4, '0')}`;
const day = (n: number) => new Date(Date.UTC(2025, 0, n));

async function backupRows(rolloutId: string) {
  const record = await findBackupRecord(t.db, rolloutId, 'runtime_config');
  if (!record) throw new Error('no backup');
  return allRows(t.db, record.backup_table);
}

async function constraintExists(): Promise<boolean> {
  const result = await sql<{ found: boolean }>`
    select exists (select 1 from pg_constraint where conname = ${KEY_UNIQUE_CONSTRAINT}) as found
  `.execute(t.db);
  return result.rows[0]?.found ?? false;
}

test('a full rollback after the migration puts every original row back exactly, schema included', async () => {
  await generateLegacyData(t.db, { rows: 3_000 });
  const before = await allRows(t.db);
  const rolloutId = nextRolloutId();
  const backup = await backupRuntimeConfig(t.db, rolloutId);
  const migration = await runKeyMigration(t.db, { rolloutId });
  expect(migration.renamed).toBeGreaterThan(100);
  expect(migration.discarded).toBeGreaterThan(10);
  expect(await constraintExists()).toBe(true);

  const report = await restoreKeys(t.db, { rolloutId });

  expect(await allRows(t.db)).toEqual(before);
  expect(await fingerprintTable(t.db, 'runtime_config')).toEqual({
    rowCount: backup.rowCount,
    checksum: backup.checksum,
  });
  expect(report).toMatchObject({
    restored: migration.renamed,
    reinserted: migration.discarded,
    reinsertedWrites: 0,
    droppedConstraints: [KEY_UNIQUE_CONSTRAINT],
    nothingToDo: false,
    untouchedRows: 3_000,
    untouchedChecksum: backup.checksum,
    kept: {
      insertedAfterBackup: 0,
      writtenAfterBackup: 0,
      deletedAfterBackup: 0,
      rows: [],
      truncated: false,
    },
  });
  expect(await constraintExists()).toBe(false);
});

test('writes made after the backup survive the rollback and are listed; the rest equals the backup', async () => {
  await insertLegacyRows(t.db, [
    { id: 1, key: 'maxTokens', userId: 'alice', value: 'alice-new', updatedAt: day(20) },
    { id: 2, key: 'max_tokens', userId: 'alice', value: 'alice-old', updatedAt: day(10) },
    { id: 3, key: 'MaxTokens', userId: null, value: 'global-old', updatedAt: day(1) },
    { id: 4, key: 'max-tokens', userId: null, value: 'global-new', updatedAt: day(30) },
    { id: 5, key: 'top_p', userId: 'bob', value: '0.9', updatedAt: day(2) },
    { id: 6, key: 'URLPath', userId: 'bob', value: '/v1', updatedAt: day(2) },
    { id: 7, key: 'temperature', userId: 'carol', value: '0.2', updatedAt: day(2) },
    { id: 8, key: 'topK', userId: 'dave', value: '40', updatedAt: day(2) },
    { id: 9, key: 'frequencyPenalty', userId: 'erin', value: '0.1', updatedAt: day(2) },
  ]);
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);
  const backedUp = await backupRows(rolloutId);

  // Application writes between the backup and the migration (through the normalization trigger).
  await sql`insert into runtime_config (key, user_id, value, value_type) values ('presencePenalty', 'frank', '0.5', 'number')`.execute(
    t.db,
  );
  await sql`update runtime_config set value = '0.3' where id = 9`.execute(t.db);
  await sql`delete from runtime_config where id = 7`.execute(t.db);
  await runKeyMigration(t.db, { rolloutId });
  // ...and after it: a renamed row updated, and a legacy camelCase insert folded into alice's row.
  await sql`update runtime_config set value = '50' where id = 8`.execute(t.db);
  await sql`insert into runtime_config (key, user_id, value, value_type) values ('maxTokens', 'alice', 'alice-latest', 'number')`.execute(
    t.db,
  );

  const report = await restoreKeys(t.db, { rolloutId });

  const live = await allRows(t.db);
  const byId = new Map(live.map((row) => [row.id, row]));
  // Untouched since the backup: exactly as backed up, camelCase keys and duplicates included.
  for (const id of [2, 3, 4, 5, 6]) expect(byId.get(id)).toEqual(backedUp.find((row) => row.id === id));
  // Written after the backup: kept as written, under the normalized key.
  expect(byId.get(1)).toMatchObject({ key: 'max_tokens', value: 'alice-latest' });
  expect(byId.get(8)).toMatchObject({ key: 'top_k', value: '50' });
  expect(byId.get(9)).toMatchObject({ key: 'frequency_penalty', value: '0.3' });
  expect(byId.get(10)).toMatchObject({ key: 'presence_penalty', user_id: 'frank', value: '0.5' });
  expect(byId.has(7)).toBe(false);
  expect(report.kept).toEqual({
    insertedAfterBackup: 1,
    writtenAfterBackup: 3,
    deletedAfterBackup: 1,
    truncated: false,
    rows: [
      { id: 1, reason: 'written-after-backup', row: { key: 'max_tokens', user_id: 'alice' } },
      { id: 7, reason: 'deleted-after-backup', row: { key: 'temperature', user_id: 'carol' } },
      { id: 8, reason: 'written-after-backup', row: { key: 'top_k', user_id: 'dave' } },
      { id: 9, reason: 'written-after-backup', row: { key: 'frequency_penalty', user_id: 'erin' } },
      { id: 10, reason: 'inserted-after-backup', row: { key: 'presence_penalty', user_id: 'frank' } },
    ],
  });
  // The checksum of the untouched rows equals the backup's own checksum of the same rows.
  const untouched = await sql<{ checksum: string }>`
    select coalesce(sum(('x' || left(md5(b::text), 16))::bit(64)::bigint::numeric), 0)::text as checksum
    from ${sql.table(report.backupTable)} b where b.id in (2, 3, 4, 5, 6)
  `.execute(t.db);
  expect(report.untouchedRows).toBe(5);
  expect(report.untouchedChecksum).toBe(untouched.rows[0]?.checksum);

  // Idempotent: the second run changes nothing, says so, and reports the same kept rows.
  const fingerprint = await fingerprintTable(t.db, 'runtime_config');
  const second = await restoreKeys(t.db, { rolloutId });
  expect(second).toMatchObject<Partial<KeyRestoreReport>>({
    restored: 0,
    reinserted: 0,
    reinsertedWrites: 0,
    droppedConstraints: [],
    nothingToDo: true,
    kept: report.kept,
    untouchedChecksum: report.untouchedChecksum,
  });
  expect(await fingerprintTable(t.db, 'runtime_config')).toEqual(fingerprint);
});

test('a row the dedupe discarded after an application had written it comes back as written', async () => {
  await insertLegacyRows(t.db, [
    { id: 1, key: 'maxTokens', userId: 'u', value: 'a', updatedAt: day(5) },
    { id: 2, key: 'max_tokens', userId: 'u', value: 'b', updatedAt: day(1) },
  ]);
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);
  // Written after the backup, with an explicit (older) timestamp, so the dedupe still discards it.
  await sql`update runtime_config set value = 'b2', updated_at = ${day(2)} where id = 2`.execute(t.db);
  const migration = await runKeyMigration(t.db, { rolloutId });
  expect(migration.discarded).toBe(1);

  const report = await restoreKeys(t.db, { rolloutId });

  expect(report).toMatchObject({ restored: 1, reinserted: 0, reinsertedWrites: 1 });
  expect((await allRows(t.db)).map((row) => [row.id, row.key, row.value])).toEqual([
    [1, 'maxTokens', 'a'],
    [2, 'max_tokens', 'b2'],
  ]);
  expect(report.kept.rows).toEqual([
    { id: 2, reason: 'written-after-backup', row: { key: 'max_tokens', user_id: 'u' } },
  ]);
});

test('a constraint that was already there when the backup was taken is part of the restored state and stays', async () => {
  await insertLegacyRows(t.db, [{ key: 'maxTokens', value: '1' }]);
  const first = nextRolloutId();
  await backupRuntimeConfig(t.db, first);
  await runKeyMigration(t.db, { rolloutId: first });
  const second = nextRolloutId();
  await backupRuntimeConfig(t.db, second);
  await runKeyMigration(t.db, { rolloutId: second });

  const report = await restoreKeys(t.db, { rolloutId: second });

  expect(report).toMatchObject({ droppedConstraints: [], nothingToDo: true });
  expect(await constraintExists()).toBe(true);
});

test('a concurrent writer during the restore loses nothing: its rows are kept and the restore still verifies', async () => {
  await generateLegacyData(t.db, { rows: 20_000 });
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);
  await runKeyMigration(t.db, { rolloutId });

  const written = new Map<number, string>();
  let stop = false;
  const writer = (async () => {
    for (let n = 0; !stop; n++) {
      const id = 1 + ((n * 7_919) % 19_000);
      const value = `w${n}`;
      const result = await sql`update runtime_config set value = ${value} where id = ${id}`.execute(t.db);
      if (Number(result.numAffectedRows) === 1) written.set(id, value);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  try {
    await restoreKeys(t.db, { rolloutId, batchSize: 1_000 });
  } finally {
    stop = true;
    await writer;
  }
  expect(written.size).toBeGreaterThan(20);
  const live = new Map((await allRows(t.db)).map((row) => [row.id as number, row.value]));
  for (const [id, value] of written) expect([id, live.get(id)]).toEqual([id, value]);
  // A second pass verifies the whole table again with the writer's rows in place.
  const again = await restoreKeys(t.db, { rolloutId });
  expect(again.kept.writtenAfterBackup).toBe(written.size);
});
