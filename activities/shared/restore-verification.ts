import { sql, type RawBuilder, type Transaction } from 'kysely';
import { rowHash, rowOf } from '../../db/row-sql';
import type { BackupRow, Database } from '../../db/schema';
import { RestoreVerificationError } from './restore-verification-error';

export type KeptReason = 'inserted-after-backup' | 'written-after-backup' | 'deleted-after-backup';

/** A write made after the backup, kept by the restore. */
export interface KeptRow {
  id: number;
  reason: KeptReason;
  /** The listed columns of the live row (of the backed-up row when it was deleted); never a value column. */
  row: Record<string, unknown>;
}

/** Writes made after the backup: never discarded by a restore, counted and listed. */
export interface KeptWrites<Row> {
  insertedAfterBackup: number;
  writtenAfterBackup: number;
  deletedAfterBackup: number;
  /** The first `listLimit` kept rows by id. */
  rows: Row[];
  truncated: boolean;
}

/** How one phase's restore tells its own work, which it undoes, from writes made after the backup. */
export interface RestoreCheckSpec {
  table: string;
  record: Pick<BackupRow, 'backup_table' | 'row_count' | 'checksum'>;
  /** The backup's columns (the live table's). */
  columns: readonly string[];
  /** Joined to `<table> as l full join <backup> as b on b.id = l.id`: where the phase recorded its work. */
  join: RawBuilder<unknown>;
  /**
   * For a row both live and backed up: it holds the backup's values, or only the phase's own work (which the
   * restore put back, so the checksums below catch any left).
   */
  untouched: RawBuilder<boolean>;
  /** For a backed-up row no longer live: the phase deleted it, so the restore must have put it back. */
  deletedByPhase: RawBuilder<boolean>;
  /** Columns listed for each kept row. */
  describe: readonly string[];
  listLimit: number;
  /** What a row the restore left as the phase made it still is, for the failure message. */
  unrestoredAre: string;
}

export interface RestoreCheck {
  /** Backed-up rows that are live and untouched since the backup, and their checksum (equal to the backup's). */
  untouchedRows: number;
  untouchedChecksum: string;
  kept: KeptWrites<KeptRow>;
}

/**
 * A restore's final check, to run in one read-only snapshot (db/read-only-snapshot.ts) over backup ⟗ live
 * ⟕ the phase's record: the backup still matches its recorded checksum; no row is left with only the phase's
 * work, and none the phase deleted is missing; the checksum of the untouched rows equals the backup's for
 * those rows, which proves the phase's work in them was put back. Every other difference is a write made
 * after the backup: counted and listed, never an error. Throws {@link RestoreVerificationError}.
 */
export async function verifyRestore(
  trx: Transaction<Database>,
  spec: RestoreCheckSpec,
): Promise<RestoreCheck> {
  const backupTable = spec.record.backup_table;
  const untouched = sql<boolean>`(l.id is not null and b.id is not null and ${spec.untouched})`;
  const deletedByOthers = sql<boolean>`not (${spec.deletedByPhase})`;
  const from = sql`
    from ${sql.table(spec.table)} as l
    full join ${sql.table(backupTable)} as b on b.id = l.id
    ${spec.join}
  `;
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
           coalesce(sum(${rowHash(rowOf('b', spec.columns))}) filter (where b.id is not null), 0)::text as backup_checksum,
           count(*) filter (where ${untouched}) as untouched_rows,
           coalesce(sum(${rowHash(rowOf('b', spec.columns))}) filter (where ${untouched}), 0)::text as untouched_backup,
           coalesce(sum(${rowHash(rowOf('l', spec.columns))}) filter (where ${untouched}), 0)::text as untouched_live,
           count(*) filter (where ${untouched} and ${rowOf('l', spec.columns)} is distinct from ${rowOf('b', spec.columns)})
             as unrestored,
           count(*) filter (where b.id is not null and l.id is null and ${spec.deletedByPhase}) as missing,
           count(*) filter (where b.id is null) as inserted_after,
           count(*) filter (where l.id is not null and b.id is not null and not ${untouched}) as written_after,
           count(*) filter (where b.id is not null and l.id is null and ${deletedByOthers}) as deleted_after
    ${from}
  `.execute(trx);
  const described = sql<Record<string, unknown>>`jsonb_build_object(${sql.join(
    spec.describe.map(
      (column) =>
        sql`${sql.lit(column)}, case when l.id is null then ${sql.ref(`b.${column}`)} else ${sql.ref(`l.${column}`)} end`,
    ),
  )})`;
  const listed = await sql<KeptRow>`
    select coalesce(l.id, b.id) as id,
           case when b.id is null then 'inserted-after-backup'
                when l.id is null then 'deleted-after-backup'
                else 'written-after-backup' end as reason,
           ${described} as row
    ${from}
    where b.id is null or (l.id is null and ${deletedByOthers}) or (l.id is not null and not ${untouched})
    order by 1
    limit ${spec.listLimit + 1}
  `.execute(trx);
  const s = sums.rows[0];
  if (!s) throw new Error(`restore check of ${spec.table} returned no row`);

  if (s.backup_checksum !== spec.record.checksum || s.backup_rows !== spec.record.row_count) {
    throw new RestoreVerificationError(
      'backup-changed',
      `backup ${backupTable} no longer matches its record (rows ${s.backup_rows} vs ${spec.record.row_count}); the restore cannot be verified`,
    );
  }
  if (s.untouched_backup !== s.untouched_live || s.unrestored > 0 || s.missing > 0) {
    throw new RestoreVerificationError(
      'not-converged',
      `restore of ${spec.table} did not converge: ${s.unrestored} row(s) ${spec.unrestoredAre}, ` +
        `${s.missing} deleted row(s) not put back, untouched checksum ${s.untouched_live} vs backup ${s.untouched_backup}`,
    );
  }
  return {
    untouchedRows: s.untouched_rows,
    untouchedChecksum: s.untouched_live,
    kept: {
      insertedAfterBackup: s.inserted_after,
      writtenAfterBackup: s.written_after,
      deletedAfterBackup: s.deleted_after,
      rows: listed.rows.slice(0, spec.listLimit),
      truncated: listed.rows.length > spec.listLimit,
    },
  };
}
