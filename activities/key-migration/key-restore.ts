import { sql, type Kysely, type Transaction } from 'kysely';
import { columnList, plainIdentifier, rowHash, rowOf, tableColumns } from '../../db/row-sql';
import type { Database } from '../../db/schema';
import { retryOnLockConflict, type RetryOptions } from '../../db/lock-retry';
import { DEFAULT_LIMITS, type StatementLimits } from '../../db/transaction-settings';
import { findBackupRecord, tableExists } from '../backup/table-backups';
import { RestorePreconditionError } from '../shared/restore-precondition-error';

type Db = Kysely<Database> | Transaction<Database>;

const SETTING = /^[a-z_]+\.[a-z_]+$/;

/** What a data phase did to a table, so that its rollback can undo exactly that and nothing else. */
export interface RestoreSpec {
  rolloutId: string;
  table: string;
  /**
   * Columns the phase rewrites in place (the key migration: `key`). A row whose only differences from the
   * backup are in these columns is the phase's work and is put back; a difference in any other column is a
   * write made after the backup, and the row is kept as it is.
   */
  migratedColumns: readonly string[];
  /**
   * Table (same columns) where the phase recorded every row it deleted; it may not exist (nothing deleted).
   * With it, a backup row missing from the live table is put back only if the phase deleted it; one deleted
   * by an application after the backup stays deleted and is listed. Without it, every missing row is put back.
   */
  discardedTable?: string;
  /** Constraints the phase added; each is dropped unless the backup table has the same unique index. */
  addedConstraints?: readonly string[];
  /** Custom setting turned on (transaction-local) while restoring, so triggers let rows through verbatim. */
  bypassSetting?: string;
  /** Ids per restore batch. Default 50,000. */
  batchSize?: number;
  limits?: Partial<StatementLimits>;
  /** How many kept rows the report lists one by one (all are counted). Default 1,000. */
  listLimit?: number;
  /** Columns shown for each listed row besides its id (never a value column: it may hold a secret). */
  describeColumns?: readonly string[];
  /** Ids up to here were restored by an earlier attempt. */
  resumeFrom?: number;
  onProgress?: (progress: { cursor: number; end: number }) => void;
  retry?: RetryOptions;
}

export type KeptReason = 'inserted-after-backup' | 'written-after-backup' | 'deleted-after-backup';

export interface KeptRow {
  id: number;
  reason: KeptReason;
  /** `describeColumns` of the live row (of the backed-up row when it was deleted). */
  row: Record<string, unknown>;
}

export interface RestoreReport {
  table: string;
  backupTable: string;
  /** Rows whose migrated columns were put back to the backup's values. */
  restored: number;
  /** Rows the phase deleted, put back exactly as in the backup. */
  reinserted: number;
  /** Rows the phase deleted that had been written after the backup: put back as they were written. */
  reinsertedWrites: number;
  droppedConstraints: string[];
  /** True when the table already matched: nothing was changed. */
  nothingToDo: boolean;
  kept: {
    insertedAfterBackup: number;
    writtenAfterBackup: number;
    deletedAfterBackup: number;
    /** The first `listLimit` kept rows by id. */
    rows: KeptRow[];
    truncated: boolean;
  };
  /** Backup rows that are live and untouched since the backup, and their checksum (equal to the backup's). */
  untouchedRows: number;
  untouchedChecksum: string;
  seconds: number;
}

export class RestoreVerificationError extends Error {
  constructor(
    /** `backup-changed`: the backup no longer matches its record (retrying cannot help). */
    readonly kind: 'backup-changed' | 'not-converged',
    message: string,
  ) {
    super(message);
    this.name = 'RestoreVerificationError';
  }
}

/** Drops `constraint` from the live table when it exists there and the backup has no unique index like it. */
async function dropAddedConstraint(
  db: Kysely<Database>,
  table: string,
  backupTable: string,
  constraint: string,
  limits: StatementLimits,
  retry: RetryOptions,
): Promise<boolean> {
  const state = await sql<{ on_live: boolean; in_backup: boolean }>`
    with c as (
      select con.conkey from pg_constraint con
      where con.conrelid = to_regclass(${table}) and con.conname = ${constraint}
    ),
    names as (
      select array_agg(a.attname::text order by k.ord) as cols
      from c, unnest(c.conkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = to_regclass(${table}) and a.attnum = k.attnum
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
        where i.indrelid = to_regclass(${table}) and c.relname = ${constraint}
      ) as found
    `.execute(db);
    if (!leftover.rows[0]?.found) return false;
    await sql`drop index concurrently if exists ${sql.id(constraint)}`.execute(db);
    return true;
  }
  // The backup was taken with the constraint in place (an earlier rollout added it): it is part of the
  // state being restored, so it stays.
  if (row.in_backup) return false;
  await retryOnLockConflict(
    () =>
      db.transaction().execute(async (trx) => {
        await sql`select set_config('lock_timeout', ${`${limits.lockTimeoutMs}ms`}, true)`.execute(trx);
        await sql`alter table ${sql.table(table)} drop constraint if exists ${sql.id(constraint)}`.execute(
          trx,
        );
      }),
    retry,
  );
  return true;
}

async function maxIdOf(db: Db, tables: string[]): Promise<number> {
  const parts = tables.map((table) => sql`select max(id) as id from ${sql.table(table)}`);
  const result = await sql<{ id: number | null }>`
    select max(id) as id from (${sql.join(parts, sql` union all `)}) ids
  `.execute(db);
  return result.rows[0]?.id ?? 0;
}

/**
 * Restores `spec.table` from the rollout's verified backup, undoing exactly what the data phase did:
 * - a row that differs from the backup only in the migrated columns gets the backup's values back;
 * - a row the phase deleted is put back exactly as in the backup (or, if it had been written after the
 *   backup, as it was written);
 * - a row inserted after the backup, or whose other columns changed after it (updated_at included), is a
 *   write made after the backup: never discarded, kept as it is and listed — this includes a row the
 *   migration renamed and an application then updated: it keeps its new key and value;
 * - a row an application deleted after the backup stays deleted and is listed (when deletions are tracked).
 * Constraints the phase added go first (the backup may hold duplicates they forbid); rows are written with
 * `bypassSetting` on, so triggers keep backed-up keys verbatim. Batches over id ranges, each a short
 * transaction; idempotent (a second run changes nothing and says so). Finally, in one snapshot, checks that
 * the backup still matches its recorded checksum, that no row is left with only migrated differences or
 * missing though deleted by the phase, and that the checksum of the untouched rows equals the backup's.
 *
 * @example
 * const report = await restoreTable(db, {
 *   rolloutId: 'r-20261126-ab12', table: 'runtime_config', migratedColumns: ['key'],
 *   discardedTable: 'discarded_r_20261126_ab12_runtime_config', addedConstraints: ['runtime_config_key_user_unique'],
 *   bypassSetting: 'rollout.bypass_key_normalization',
 * });
 * report.kept.rows; // rows written after the backup, kept
 */
export async function restoreTable(db: Kysely<Database>, spec: RestoreSpec): Promise<RestoreReport> {
  const started = performance.now();
  const table = plainIdentifier(spec.table, 'table');
  const record = await findBackupRecord(db, spec.rolloutId, table);
  if (!record)
    throw new RestorePreconditionError(`rollout ${spec.rolloutId} has no recorded backup of ${table}`);
  const backupTable = plainIdentifier(record.backup_table, 'backup table');
  if (!(await tableExists(db, backupTable))) {
    throw new RestorePreconditionError(
      `backup ${backupTable} of ${table} is recorded but missing; nothing to restore from`,
    );
  }
  if (spec.bypassSetting !== undefined && !SETTING.test(spec.bypassSetting)) {
    throw new Error(`bypass setting "${spec.bypassSetting}" must look like prefix.name`);
  }
  const limits: StatementLimits = { ...DEFAULT_LIMITS, statementTimeoutMs: 60_000, ...spec.limits };
  const retry = spec.retry ?? {};
  const columns = await tableColumns(db, backupTable);
  if (!columns.includes('id')) throw new RestorePreconditionError(`${backupTable} has no id column`);
  for (const column of spec.migratedColumns) {
    if (!columns.includes(column))
      throw new RestorePreconditionError(`migrated column ${column} is not a column of ${backupTable}`);
  }
  const migrated = [...spec.migratedColumns];
  const others = columns.filter((column) => !migrated.includes(column));
  const discardedTable = spec.discardedTable
    ? plainIdentifier(spec.discardedTable, 'discarded table')
    : undefined;
  const tracked = discardedTable !== undefined;
  const discarded = discardedTable && (await tableExists(db, discardedTable)) ? discardedTable : undefined;

  const droppedConstraints: string[] = [];
  for (const constraint of spec.addedConstraints ?? []) {
    const name = plainIdentifier(constraint, 'constraint');
    if (await dropAddedConstraint(db, table, backupTable, name, limits, retry)) droppedConstraints.push(name);
  }

  const live = sql.table(table);
  const backup = sql.table(backupTable);
  const cols = sql.join(columns.map((column) => sql.id(column)));
  const end = await maxIdOf(db, [table, backupTable, ...(discarded ? [discarded] : [])]);
  const batchSize = spec.batchSize ?? 50_000;
  let restored = 0;
  let reinserted = 0;
  let reinsertedWrites = 0;

  for (let cursor = spec.resumeFrom ?? 0; cursor < end;) {
    const from = cursor;
    const to = Math.min(cursor + batchSize, end);
    const counts = await retryOnLockConflict(
      () =>
        db.transaction().execute(async (trx) => {
          await sql`
            select set_config('lock_timeout', ${`${limits.lockTimeoutMs}ms`}, true),
                   set_config('statement_timeout', ${`${limits.statementTimeoutMs}ms`}, true),
                   set_config('jit', 'off', true)
          `.execute(trx);
          if (spec.bypassSetting)
            await sql`select set_config(${spec.bypassSetting}, 'on', true)`.execute(trx);
          // The "other columns equal" condition is rechecked on the latest row version if a writer updates the
          // row concurrently, so a write that lands meanwhile is never overwritten.
          const back =
            migrated.length === 0
              ? 0
              : Number(
                  (
                    await sql`
                      update ${live} as l set (${sql.join(migrated.map((c) => sql.id(c)))}) = ${rowOf('b', migrated)}
                      from ${backup} as b
                      where b.id = l.id and l.id > ${from} and l.id <= ${to} and b.id > ${from} and b.id <= ${to}
                        and ${rowOf('l', migrated)} is distinct from ${rowOf('b', migrated)}
                        and ${rowOf('l', others)} is not distinct from ${rowOf('b', others)}
                    `.execute(trx)
                  ).numAffectedRows ?? 0n,
                );
          let exact = 0;
          let writes = 0;
          if (!tracked) {
            const result = await sql`
              insert into ${live} (${cols}) overriding system value
              select ${columnList('b', columns)} from ${backup} as b
              where b.id > ${from} and b.id <= ${to} and not exists (select 1 from ${live} as l where l.id = b.id)
              on conflict (id) do nothing
            `.execute(trx);
            exact = Number(result.numAffectedRows ?? 0n);
          } else if (discarded) {
            const d = sql.table(discarded);
            const fromBackup = await sql`
              insert into ${live} (${cols}) overriding system value
              select ${columnList('b', columns)} from ${d} as d join ${backup} as b on b.id = d.id
              where d.id > ${from} and d.id <= ${to} and not exists (select 1 from ${live} as l where l.id = d.id)
                and ${rowOf('d', others)} is not distinct from ${rowOf('b', others)}
              on conflict (id) do nothing
            `.execute(trx);
            const asWritten = await sql`
              insert into ${live} (${cols}) overriding system value
              select ${columnList('d', columns)} from ${d} as d left join ${backup} as b on b.id = d.id
              where d.id > ${from} and d.id <= ${to} and not exists (select 1 from ${live} as l where l.id = d.id)
                and (b.id is null or ${rowOf('d', others)} is distinct from ${rowOf('b', others)})
              on conflict (id) do nothing
            `.execute(trx);
            exact = Number(fromBackup.numAffectedRows ?? 0n);
            writes = Number(asWritten.numAffectedRows ?? 0n);
          }
          return { back, exact, writes };
        }),
      retry,
    );
    restored += counts.back;
    reinserted += counts.exact;
    reinsertedWrites += counts.writes;
    cursor = to;
    spec.onProgress?.({ cursor, end });
  }

  const describe = (spec.describeColumns ?? []).map((column) => {
    if (!columns.includes(column))
      throw new Error(`describe column ${column} is not a column of ${backupTable}`);
    return column;
  });
  const check = await checkRestore(db, {
    table,
    backupTable,
    discardedTable: discarded,
    tracked,
    columns,
    others,
    describe,
    listLimit: spec.listLimit ?? 1_000,
  });
  if (check.backupChecksum !== record.checksum || check.backupRows !== record.row_count) {
    throw new RestoreVerificationError(
      'backup-changed',
      `backup ${backupTable} no longer matches its record (rows ${check.backupRows} vs ${record.row_count}); the restore cannot be verified`,
    );
  }
  if (
    check.untouchedBackupChecksum !== check.untouchedLiveChecksum ||
    check.unrestored > 0 ||
    check.missing > 0
  ) {
    throw new RestoreVerificationError(
      'not-converged',
      `restore of ${table} did not converge: ${check.unrestored} row(s) still differ only in ${migrated.join(', ')}, ` +
        `${check.missing} deleted row(s) not put back, untouched checksum ${check.untouchedLiveChecksum} vs backup ${check.untouchedBackupChecksum}`,
    );
  }
  return {
    table,
    backupTable,
    restored,
    reinserted,
    reinsertedWrites,
    droppedConstraints,
    nothingToDo: restored + reinserted + reinsertedWrites + droppedConstraints.length === 0,
    kept: check.kept,
    untouchedRows: check.untouchedRows,
    untouchedChecksum: check.untouchedLiveChecksum,
    seconds: (performance.now() - started) / 1000,
  };
}

interface RestoreCheck {
  backupRows: number;
  backupChecksum: string;
  untouchedRows: number;
  untouchedBackupChecksum: string;
  untouchedLiveChecksum: string;
  unrestored: number;
  missing: number;
  kept: RestoreReport['kept'];
}

/**
 * One read-only snapshot over backup ⟗ live (⟕ discarded): "untouched" = live with every non-migrated column
 * equal to the backup. Their checksums must be equal, which also proves their migrated columns were put
 * back; every other backup row is a kept write, a kept application delete, or an error.
 */
async function checkRestore(
  db: Kysely<Database>,
  input: {
    table: string;
    backupTable: string;
    discardedTable: string | undefined;
    /** Deletions by the phase are recorded, so a missing row not recorded was deleted by someone else. */
    tracked: boolean;
    columns: string[];
    others: string[];
    describe: string[];
    listLimit: number;
  },
): Promise<RestoreCheck> {
  const live = sql.table(input.table);
  const backup = sql.table(input.backupTable);
  const discarded = input.discardedTable
    ? sql.table(input.discardedTable)
    : sql`(select null::bigint as id where false)`;
  // Untracked: every backup row should be live again. Tracked: only those the phase deleted.
  const mustBeBack = input.tracked ? sql`d.id is not null` : sql`true`;
  const deletedByOthers = input.tracked ? sql`d.id is null` : sql`false`;
  const described = sql`jsonb_build_object(${sql.join(
    input.describe.length === 0
      ? [sql`'id'`, sql`coalesce(l.id, b.id)`]
      : input.describe.map(
          (column) =>
            sql`${sql.lit(column)}, case when l.id is null then ${sql.ref(`b.${column}`)} else ${sql.ref(`l.${column}`)} end`,
        ),
  )})`;
  const untouched = sql`(l.id is not null and ${rowOf('l', input.others)} is not distinct from ${rowOf('b', input.others)})`;
  const reason = sql<KeptReason | null>`
    case when b.id is null then 'inserted-after-backup'
         when l.id is null then 'deleted-after-backup'
         when not ${untouched} then 'written-after-backup' end`;
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await sql`set transaction read only`.execute(trx);
      await sql`select set_config('jit', 'off', true)`.execute(trx);
      const sums = await sql<{
        backup_rows: number;
        backup_checksum: string;
        untouched_rows: number;
        untouched_backup: string;
        untouched_live: string;
        unrestored: number;
        missing: number;
        inserted_after: number;
        written_after: number;
        deleted_after: number;
      }>`
        select count(b.id) as backup_rows,
               coalesce(sum(${rowHash(rowOf('b', input.columns))}) filter (where b.id is not null), 0)::text as backup_checksum,
               count(*) filter (where b.id is not null and ${untouched}) as untouched_rows,
               coalesce(sum(${rowHash(rowOf('b', input.columns))}) filter (where b.id is not null and ${untouched}), 0)::text
                 as untouched_backup,
               coalesce(sum(${rowHash(rowOf('l', input.columns))}) filter (where b.id is not null and ${untouched}), 0)::text
                 as untouched_live,
               count(*) filter (where b.id is not null and ${untouched}
                                  and ${rowOf('l', input.columns)} is distinct from ${rowOf('b', input.columns)})
                 as unrestored,
               count(*) filter (where b.id is not null and l.id is null and ${mustBeBack}) as missing,
               count(*) filter (where b.id is null) as inserted_after,
               count(*) filter (where b.id is not null and l.id is not null and not ${untouched}) as written_after,
               count(*) filter (where b.id is not null and l.id is null and ${deletedByOthers}) as deleted_after
        from ${live} as l
        full join ${backup} as b on b.id = l.id
        left join ${discarded} as d on d.id = b.id
      `.execute(trx);
      const listed = await sql<{ id: number; reason: KeptReason; row: Record<string, unknown> }>`
        select coalesce(l.id, b.id) as id, ${reason} as reason, ${described} as row
        from ${live} as l
        full join ${backup} as b on b.id = l.id
        left join ${discarded} as d on d.id = b.id
        where b.id is null or (l.id is null and ${deletedByOthers}) or (l.id is not null and not ${untouched})
        order by 1
        limit ${input.listLimit + 1}
      `.execute(trx);
      const s = sums.rows[0];
      if (!s) throw new Error('restore check returned no row');
      const rows = listed.rows.slice(0, input.listLimit);
      return {
        backupRows: s.backup_rows,
        backupChecksum: s.backup_checksum,
        untouchedRows: s.untouched_rows,
        untouchedBackupChecksum: s.untouched_backup,
        untouchedLiveChecksum: s.untouched_live,
        unrestored: s.unrestored,
        missing: s.missing,
        kept: {
          insertedAfterBackup: s.inserted_after,
          writtenAfterBackup: s.written_after,
          deletedAfterBackup: s.deleted_after,
          rows,
          truncated: listed.rows.length > input.listLimit,
        },
      };
    });
}
