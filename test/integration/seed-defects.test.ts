import { sql } from 'kysely';
import {
  KEY_UNIQUE_CONSTRAINT,
  NORMALIZATION_BYPASS_SETTING,
  discardedRowsTableName,
  runKeyMigration,
} from '../../activities/key-migration/key-migration';
import { backupTableName, fingerprintTable, findBackupRecord } from '../../activities/backup/table-backups';
import { restoreKeys } from '../../activities/key-migration/key-restore';
import { allRows, backupRuntimeConfig, insertLegacyRows } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

// SPEC §10: the defects of the seed document's sketches that concern runtime_config and its backup, each
// shown on the seed's own SQL where it can run, and shown absent from ours.

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('seed_defects');
});
afterAll(() => t?.drop());

beforeEach(async () => {
  await sql`alter table runtime_config drop constraint if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(
    t.db,
  );
  await sql`truncate runtime_config restart identity`.execute(t.db);
});

let counter = 0;
const nextRolloutId = () => `r-seed-${String(++counter).padStart(4, '0')}`;
const day = (n: number) => new Date(Date.UTC(2025, 0, n));

async function migrate(): Promise<string> {
  const rolloutId = nextRolloutId();
  await backupRuntimeConfig(t.db, rolloutId);
  await runKeyMigration(t.db, { rolloutId });
  return rolloutId;
}

const live = async () =>
  (await allRows(t.db)).map((row) => ({ id: row.id, key: row.key, user_id: row.user_id, value: row.value }));

test("the seed's key regexp makes MaxTokens _max_tokens and URLPath _u_r_l_path; ours gives max_tokens and url_path", async () => {
  const seed = await sql<{ max: string; url: string }>`
    select lower(regexp_replace('MaxTokens', '([A-Z])', '_\\1', 'g')) as max,
           lower(regexp_replace('URLPath', '([A-Z])', '_\\1', 'g')) as url
  `.execute(t.db);
  expect(seed.rows[0]).toEqual({ max: '_max_tokens', url: '_u_r_l_path' });

  await insertLegacyRows(t.db, [
    { key: 'MaxTokens', userId: 'a' },
    { key: 'URLPath', userId: 'a' },
    { key: 'HTTPRequestTimeout', userId: 'a' },
  ]);
  await migrate();
  expect((await live()).map((row) => row.key)).toEqual(['max_tokens', 'url_path', 'http_request_timeout']);
});

test("the seed's dedupe keeps the highest id; ours keeps the most recently updated row", async () => {
  await insertLegacyRows(t.db, [
    { id: 1, key: 'max_tokens', userId: 'a', value: 'recent', updatedAt: day(20) },
    { id: 2, key: 'maxTokens', userId: 'a', value: 'stale', updatedAt: day(1) },
  ]);
  await migrate();
  expect(await live()).toEqual([{ id: 1, key: 'max_tokens', user_id: 'a', value: 'recent' }]);
});

test("the seed's a.user_id = b.user_id never pairs global rows; ours dedupes NULL user ids as one group", async () => {
  await insertLegacyRows(t.db, [
    { id: 1, key: 'max_tokens', userId: null, value: 'old', updatedAt: day(1) },
    { id: 2, key: 'max_tokens', userId: null, value: 'new', updatedAt: day(2) },
  ]);
  const seedWouldDelete = await sql<{ n: number }>`
    select count(*) as n from runtime_config a join runtime_config b
      on a.id < b.id and a.key = b.key and a.user_id = b.user_id
  `.execute(t.db);
  expect(seedWouldDelete.rows[0]?.n).toBe(0);

  await migrate();
  expect(await live()).toEqual([{ id: 2, key: 'max_tokens', user_id: null, value: 'new' }]);
});

test('a plain UNIQUE still allows duplicate global keys; our NULLS NOT DISTINCT constraint rejects them', async () => {
  await sql`create temporary table plain_unique (key text, user_id text, unique (key, user_id))`.execute(
    t.db,
  );
  await sql`insert into plain_unique values ('max_tokens', null), ('max_tokens', null)`.execute(t.db);

  await insertLegacyRows(t.db, [{ key: 'max_tokens', userId: null, value: '1' }]);
  await migrate();
  // A writer that got past the normalization trigger (the bypass, as a raw tool would) is still stopped.
  await expect(
    t.db.transaction().execute(async (trx) => {
      await sql`select set_config(${NORMALIZATION_BYPASS_SETTING}, 'on', true)`.execute(trx);
      await sql`insert into runtime_config (key, user_id, value, value_type) values ('max_tokens', null, '2', 'number')`.execute(
        trx,
      );
    }),
  ).rejects.toMatchObject({ code: '23505', constraint: KEY_UNIQUE_CONSTRAINT });
  // Through the trigger the same insert is an update of the global row, not an error.
  await sql`insert into runtime_config (key, user_id, value, value_type) values ('maxTokens', null, '3', 'number')`.execute(
    t.db,
  );
  expect(await live()).toEqual([{ id: 1, key: 'max_tokens', user_id: null, value: '3' }]);
});

test("the seed's backup table name is fixed; ours is per rollout, so two rollouts neither collide nor overwrite", async () => {
  await insertLegacyRows(t.db, [{ key: 'maxTokens', value: 'first' }]);
  const first = nextRolloutId();
  const firstBackup = await backupRuntimeConfig(t.db, first);
  await sql`update runtime_config set value = 'second'`.execute(t.db);
  const second = nextRolloutId();
  const secondBackup = await backupRuntimeConfig(t.db, second);

  expect(firstBackup.backupTable).toBe(backupTableName(first, 'runtime_config'));
  expect(secondBackup.backupTable).toBe(backupTableName(second, 'runtime_config'));
  expect(firstBackup.backupTable).not.toBe(secondBackup.backupTable);
  expect(discardedRowsTableName(first)).not.toBe(discardedRowsTableName(second));
  // The first backup still holds what it verified; a rerun of the first rollout reuses it.
  expect(await fingerprintTable(t.db, firstBackup.backupTable)).toEqual({
    rowCount: firstBackup.rowCount,
    checksum: firstBackup.checksum,
  });
  expect(await backupRuntimeConfig(t.db, first)).toMatchObject({
    reused: true,
    checksum: firstBackup.checksum,
  });
  expect(secondBackup.checksum).not.toBe(firstBackup.checksum);
});

test("the seed's downgrade does not restore; our rollback puts the pre-migration rows back exactly", async () => {
  await insertLegacyRows(t.db, [
    { key: 'maxTokens', userId: null, value: 'a', updatedAt: day(1) },
    { key: 'max_tokens', userId: null, value: 'b', updatedAt: day(2) },
    { key: 'URLPath', userId: 'u', value: 'c', updatedAt: day(3) },
  ]);
  const before = await allRows(t.db);
  const rolloutId = await migrate();
  expect(await live()).toHaveLength(2);

  // The key restore knows what the key migration did: the renamed key column, the discarded-rows table,
  // the unique constraint it added and the normalization bypass.
  await restoreKeys(t.db, { rolloutId });

  expect(await allRows(t.db)).toEqual(before);
  const record = await findBackupRecord(t.db, rolloutId, 'runtime_config');
  expect(await fingerprintTable(t.db, 'runtime_config')).toEqual({
    rowCount: record?.row_count,
    checksum: record?.checksum,
  });
});
