import { sql, type Kysely, type Transaction } from 'kysely';
import { lockingTransaction, type RetryOptions } from '../../db/lock-retry';
import { readOnlySnapshot } from '../../db/read-only-snapshot';
import { columnList, rowOf } from '../../db/row-sql';
import type { Database } from '../../db/schema';
import { limitSettings } from '../../db/transaction-settings';
import { tableExists } from '../backup/table-backups';
import { BackupRestore, type RestoreOptions } from '../shared/restore-from-backup';
import { verifyRestore, type KeptRow, type KeptWrites } from '../shared/restore-verification';
import {
  KEY_TABLE,
  KEY_UNIQUE_CONSTRAINT,
  NORMALIZATION_BYPASS_SETTING,
  discardedRowsTableName,
} from './key-migration';

export interface KeyRestoreReport {
  table: typeof KEY_TABLE;
  backupTable: string;
  /** Rows whose key was put back to the backup's. */
  restored: number;
  /** Rows the dedupe deleted, put back exactly as in the backup. */
  reinserted: number;
  /** Rows the dedupe deleted that had been written after the backup: put back as they were written. */
  reinsertedWrites: number;
  droppedConstraints: string[];
  /** True when the table already matched: nothing was changed. */
  nothingToDo: boolean;
  /** Writes made after the backup, listed by key and user (never by value: it may hold a secret). */
  kept: KeptWrites<KeptRow>;
  /** Backup rows that are live and untouched since the backup, and their checksum (equal to the backup's). */
  untouchedRows: number;
  untouchedChecksum: string;
  seconds: number;
}

/**
 * Drops the unique constraint the key migration added, unless the backup has a unique index on the same
 * columns (an earlier rollout added it, so it is part of the state being restored). Also drops the index an
 * interrupted build left behind without a constraint.
 */
async function dropAddedConstraint(
  db: Kysely<Database>,
  backupTable: string,
  lockTimeoutMs: number,
  retry: RetryOptions | undefined,
): Promise<boolean> {
  const state = await sql<{ on_live: boolean; in_backup: boolean }>`
    with c as (
      select con.conkey from pg_constraint con
      where con.conrelid = to_regclass(${KEY_TABLE}) and con.conname = ${KEY_UNIQUE_CONSTRAINT}
    ),
    names as (
      select array_agg(a.attname::text order by k.ord) as cols
      from c, unnest(c.conkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = to_regclass(${KEY_TABLE}) and a.attnum = k.attnum
    )
    select exists (select 1 from c) as on_live,
           exists (
             select 1 from pg_index i
             where i.indrelid = to_regclass(${backupTable}) and i.indisunique and not i.indisprimary
               and (select array_agg(a.attname::text order by k.ord)
                    from unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
                    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum)
                   = (select cols from names)
           ) as in_backup
  `.execute(db);
  const row = state.rows[0];
  if (!row?.on_live) {
    // No constraint, but maybe the index of an interrupted build (concurrent builds leave it INVALID): it
    // is not part of the backed-up state and would fail a later backup that copies indexes.
    const leftover = await sql<{ found: boolean }>`
      select exists (
        select 1 from pg_index i join pg_class c on c.oid = i.indexrelid
        where i.indrelid = to_regclass(${KEY_TABLE}) and c.relname = ${KEY_UNIQUE_CONSTRAINT}
      ) as found
    `.execute(db);
    if (!leftover.rows[0]?.found) return false;
    await sql`drop index concurrently if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(db);
    return true;
  }
  if (row.in_backup) return false;
  await lockingTransaction(db, { lockTimeoutMs, retry }, (trx) =>
    sql`alter table runtime_config drop constraint if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(trx),
  );
  return true;
}

async function maxIdOf(db: Kysely<Database>, tables: string[]): Promise<number> {
  const parts = tables.map((table) => sql`select max(id) as id from ${sql.table(table)}`);
  const result = await sql<{ id: number | null }>`
    select max(id) as id from (${sql.join(parts, sql` union all `)}) ids
  `.execute(db);
  return result.rows[0]?.id ?? 0;
}

/**
 * One batch of ids in (from, to]. The "other columns equal" conditions are re-checked on the newest row
 * version if a writer updates a row meanwhile, so a write that lands during the restore is never overwritten.
 */
async function restoreBatch(
  trx: Transaction<Database>,
  input: { backupTable: string; discardedTable: string | undefined; columns: string[]; others: string[] },
  from: number,
  to: number,
) {
  const backup = sql.table(input.backupTable);
  const cols = sql.join(input.columns.map((column) => sql.id(column)));
  const renamedBack = await sql`
    update runtime_config as l set key = b.key
    from ${backup} as b
    where b.id = l.id and l.id > ${from} and l.id <= ${to} and b.id > ${from} and b.id <= ${to}
      and l.key is distinct from b.key
      and ${rowOf('l', input.others)} is not distinct from ${rowOf('b', input.others)}
  `.execute(trx);
  const counts = { restored: Number(renamedBack.numAffectedRows ?? 0n), reinserted: 0, reinsertedWrites: 0 };
  if (!input.discardedTable) return counts;
  const d = sql.table(input.discardedTable);
  const fromBackup = await sql`
    insert into runtime_config (${cols}) overriding system value
    select ${columnList('b', input.columns)} from ${d} as d join ${backup} as b on b.id = d.id
    where d.id > ${from} and d.id <= ${to} and not exists (select 1 from runtime_config as l where l.id = d.id)
      and ${rowOf('d', input.others)} is not distinct from ${rowOf('b', input.others)}
    on conflict (id) do nothing
  `.execute(trx);
  const asWritten = await sql`
    insert into runtime_config (${cols}) overriding system value
    select ${columnList('d', input.columns)} from ${d} as d left join ${backup} as b on b.id = d.id
    where d.id > ${from} and d.id <= ${to} and not exists (select 1 from runtime_config as l where l.id = d.id)
      and (b.id is null or ${rowOf('d', input.others)} is distinct from ${rowOf('b', input.others)})
    on conflict (id) do nothing
  `.execute(trx);
  counts.reinserted = Number(fromBackup.numAffectedRows ?? 0n);
  counts.reinsertedWrites = Number(asWritten.numAffectedRows ?? 0n);
  return counts;
}

/**
 * Rolls the key migration back from the rollout's verified backup of runtime_config, undoing exactly what it
 * did and nothing else:
 * - a row that differs from the backup only in its key gets the backed-up key back;
 * - a row the dedupe deleted is put back exactly as in the backup (or, if it had been written after the
 *   backup, as it was written);
 * - a row inserted after the backup, or whose other columns changed after it (updated_at included), is a
 *   write made after the backup: never discarded, kept as it is and listed — this includes a row the
 *   migration renamed and an application then updated: it keeps its new key and value;
 * - a row an application deleted after the backup stays deleted and is listed.
 * The unique constraint goes first (the backup may hold the duplicates it forbids); rows are written with
 * the normalization trigger bypassed, so backed-up keys come back verbatim. Batches over id ranges, each a
 * short transaction; idempotent (a second run changes nothing and says so). Verified at the end
 * (activities/shared/restore-verification.ts).
 *
 * @example
 * const report = await restoreKeys(db, { rolloutId: 'r-20261126-ab12' });
 * report.kept.rows; // [{ id: 10, reason: 'inserted-after-backup', row: { key: 'presence_penalty', user_id: 'frank' } }]
 */
export async function restoreKeys(db: Kysely<Database>, options: RestoreOptions): Promise<KeyRestoreReport> {
  const started = performance.now();
  const { rolloutId } = options;
  const restore = await BackupRestore.open(db, options, KEY_TABLE);
  const { backupTable, limits } = restore;
  const columns = await restore.columns(['id', 'key', 'user_id']);
  const others = columns.filter((column) => column !== 'key');
  const candidate = discardedRowsTableName(rolloutId);
  const discardedTable = (await tableExists(db, candidate)) ? candidate : undefined;

  const dropped = await dropAddedConstraint(db, backupTable, limits.lockTimeoutMs, options.retry);
  const droppedConstraints = dropped ? [KEY_UNIQUE_CONSTRAINT] : [];
  const totals = { restored: 0, reinserted: 0, reinsertedWrites: 0 };
  await restore.batches(
    {
      end: await maxIdOf(db, [KEY_TABLE, backupTable, ...(discardedTable ? [discardedTable] : [])]),
      batchSize: options.batchSize ?? 50_000,
      settings: { ...limitSettings(limits), [NORMALIZATION_BYPASS_SETTING]: 'on' },
    },
    totals,
    (trx, from, to) => restoreBatch(trx, { backupTable, discardedTable, columns, others }, from, to),
  );

  const discarded = discardedTable ? sql.table(discardedTable) : sql`(select null::bigint as id where false)`;
  const check = await readOnlySnapshot(db, (trx) =>
    verifyRestore(trx, {
      table: KEY_TABLE,
      record: restore.record,
      columns,
      join: sql`left join ${discarded} as d on d.id = b.id`,
      untouched: sql<boolean>`${rowOf('l', others)} is not distinct from ${rowOf('b', others)}`,
      deletedByPhase: sql<boolean>`d.id is not null`,
      describe: ['key', 'user_id'],
      listLimit: options.listLimit ?? 1_000,
      unrestoredAre: 'still differ only in key',
    }),
  );
  return {
    table: KEY_TABLE,
    backupTable,
    ...totals,
    droppedConstraints,
    nothingToDo:
      totals.restored + totals.reinserted + totals.reinsertedWrites + droppedConstraints.length === 0,
    ...check,
    seconds: (performance.now() - started) / 1000,
  };
}
