import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import {
  KEY_UNIQUE_CONSTRAINT,
  discardedRowsTableName,
  runKeyMigration,
  type KeyMigrationProgress,
  type KeyMigrationReport,
} from '../../activities/key-migration/key-migration';
import type { Database } from '../../db/schema';
import { fingerprintTable } from '../../activities/backup/table-backups';
import { backupRuntimeConfig, generateLegacyData } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

// Application writes and a killed connection during the key migration: nothing lost, same end state.

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('key_migration_faults');
});
afterAll(() => t?.drop());

beforeEach(async () => {
  await sql`alter table runtime_config drop constraint if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(
    t.db,
  );
  await sql`truncate runtime_config restart identity`.execute(t.db);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A Kysely on its own pool that survives its connections being terminated, active or idle. */
function ownDatabase(applicationName: string): { db: Kysely<Database>; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: t.url,
    application_name: applicationName,
    max: 2,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // A terminated connection also emits 'error' on its client after the query has failed; unheard, that
  // event would crash the process (db/create-database.ts does not listen for it either).
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool };
}

const groupKey = (key: string, userId: string | null) => JSON.stringify([key, userId]);

test('application writes during the migration (camelCase and snake_case inserts, updates) are all present afterwards', async () => {
  await generateLegacyData(t.db, { rows: 30_000 });
  await backupRuntimeConfig(t.db, 'r-faults-writers');

  /** Normalized group → last value written, per writer (writers own disjoint users, so "last" is defined). */
  const expected = new Map<string, { key: string; userId: string | null; value: string }>();
  let stop = false;
  let operations = 0;
  // Writes that completed while the migration ran: the point of the test, independent of machine speed.
  let migrating = false;
  let operationsDuringMigration = 0;
  const errors: unknown[] = [];
  const writer = async (w: number) => {
    for (let n = 0; !stop; n++) {
      const user = `user-${(w + 2 * ((n * 37) % 300)) % 700}`;
      const param = (n * 13) % 40;
      const snake = `param${param}_max_tokens`;
      const camel = `param${param}MaxTokens`;
      const newGlobal = `writer${w}.newFeature${n % 50}`;
      const value = `w${w}-${n}`;
      const op = n % 4;
      try {
        if (op === 0) {
          await sql`insert into runtime_config (key, user_id, value, value_type) values (${camel}, ${user}, ${value}, 'string')`.execute(
            t.db,
          );
          expected.set(groupKey(snake, user), { key: snake, userId: user, value });
        } else if (op === 1) {
          await sql`insert into runtime_config (key, user_id, value, value_type) values (${snake}, ${user}, ${value}, 'string')`.execute(
            t.db,
          );
          expected.set(groupKey(snake, user), { key: snake, userId: user, value });
        } else if (op === 2) {
          // An update by normalized key, as the runtime config service does; an insert if the group is new.
          const updated = await sql`
            update runtime_config set value = ${value} where to_snake_case(key) = ${snake} and user_id = ${user}
          `.execute(t.db);
          if (Number(updated.numAffectedRows) === 0) {
            await sql`insert into runtime_config (key, user_id, value, value_type) values (${snake}, ${user}, ${value}, 'string')`.execute(
              t.db,
            );
          }
          expected.set(groupKey(snake, user), { key: snake, userId: user, value });
        } else {
          await sql`insert into runtime_config (key, user_id, value, value_type) values (${newGlobal}, null, ${value}, 'string')`.execute(
            t.db,
          );
          const key = `writer${w}.new_feature${n % 50}`;
          expected.set(groupKey(key, null), { key, userId: null, value });
        }
        operations++;
        if (migrating) operationsDuringMigration++;
      } catch (error) {
        // A multi-row update can deadlock with a dedupe batch like with any other writer; apps retry those.
        if ((error as { code?: string }).code === '40P01') n--;
        else errors.push(error);
      }
      await sleep(8);
    }
  };
  const writers = [writer(0), writer(1)];
  let report: KeyMigrationReport | undefined;
  try {
    await sleep(200);
    migrating = true;
    report = await runKeyMigration(t.db, {
      rolloutId: 'r-faults-writers',
      targetBatchMs: 15,
      initialBatchSize: 200,
      maxBatchSize: 1_000,
    });
    migrating = false;
    // Writers keep working after the migration too (the unique constraint is in place now).
    while (operations < 200 && errors.length === 0) await sleep(20);
  } finally {
    stop = true;
    await Promise.all(writers);
  }
  expect(errors).toEqual([]);
  expect(operationsDuringMigration).toBeGreaterThan(20);
  expect(operations).toBeGreaterThanOrEqual(200);
  expect(report?.verification.problems).toEqual([]);

  const live = await sql<{ key: string; user_id: string | null; value: string }>`
    select key, user_id, value from runtime_config
  `.execute(t.db);
  const groups = new Map<string, string[]>();
  for (const row of live.rows) {
    const values = groups.get(groupKey(row.key, row.user_id)) ?? [];
    values.push(row.value);
    groups.set(groupKey(row.key, row.user_id), values);
  }
  const missing = [...expected.entries()].filter(([group, write]) => {
    const values = groups.get(group);
    return values?.length !== 1 || values[0] !== write.value;
  });
  expect(
    missing.map(([group, write]) => ({ group, expected: write.value, found: groups.get(group) })),
  ).toEqual([]);
  expect(expected.size).toBeGreaterThan(100);
});

test('a migration connection terminated mid-batch surfaces the error; the rerun ends with the same checksum', async () => {
  await generateLegacyData(t.db, { rows: 30_000 });
  await backupRuntimeConfig(t.db, 'r-faults-killed');
  const victim = ownDatabase('km-victim');
  let last: KeyMigrationProgress | undefined;
  let killed = 0;
  let stop = false;
  const killer = (async () => {
    while (!stop && killed === 0) {
      if ((last?.totals.batches ?? 0) >= 5) {
        const result = await sql<{ terminated: boolean }>`
          select pg_terminate_backend(pid) as terminated from pg_stat_activity
          where application_name = 'km-victim' and state = 'active' and datname = current_database()
            and (query ilike '%update runtime_config%' or query ilike '%with page%')
        `.execute(t.db);
        killed += result.rows.filter((row) => row.terminated).length;
      }
      await sleep(1);
    }
  })();
  const options = {
    rolloutId: 'r-faults-killed',
    targetBatchMs: 15,
    initialBatchSize: 500,
    maxBatchSize: 2_000,
    onProgress: (progress: KeyMigrationProgress) => {
      last = progress;
    },
  };
  try {
    await expect(runKeyMigration(victim.db, options)).rejects.toThrow(/terminat|connection/i);
  } finally {
    stop = true;
    await killer;
    await victim.db.destroy();
  }
  expect(killed).toBe(1);
  expect(last?.totals.batches).toBeGreaterThanOrEqual(5);

  // The retry (a new worker attempt) resumes from the last heartbeat.
  const rerun = await runKeyMigration(t.db, { ...options, resume: last });
  expect(rerun.resumedAt).not.toBeNull();
  const afterFault = await fingerprintTable(t.db, 'runtime_config');
  const discardedAfterFault = await fingerprintTable(t.db, discardedRowsTableName('r-faults-killed'));

  // The same data migrated without a fault ends byte-identical.
  await sql`alter table runtime_config drop constraint ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(t.db);
  await sql`truncate runtime_config restart identity`.execute(t.db);
  await generateLegacyData(t.db, { rows: 30_000 });
  await backupRuntimeConfig(t.db, 'r-faults-clean');
  const clean = await runKeyMigration(t.db, { rolloutId: 'r-faults-clean' });
  expect(await fingerprintTable(t.db, 'runtime_config')).toEqual(afterFault);
  expect(await fingerprintTable(t.db, discardedRowsTableName('r-faults-clean'))).toEqual(discardedAfterFault);
  expect(clean.discarded).toBe(rerun.discarded);
  expect(clean.renamed).toBe(rerun.renamed);
});
