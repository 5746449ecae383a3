import { sql, type Kysely, type Transaction } from 'kysely';
import type { BackupRow, Database } from './schema';

type Db = Kysely<Database> | Transaction<Database>;

/** Rollout ids become part of table names, so they are held to a rule that is safe as an identifier. */
export const ROLLOUT_ID = /^[a-z][a-z0-9-]{2,29}$/;
const TABLE = /^[a-z_][a-z0-9_]{0,30}$/;

/**
 * The backup table of one source table in one rollout: `backup_<rollout id>_<table>`, at most 63 bytes.
 *
 * @example
 * backupTableName('r-20261126-ab12', 'runtime_config'); // 'backup_r_20261126_ab12_runtime_config'
 */
export function backupTableName(rolloutId: string, table: string): string {
  if (!ROLLOUT_ID.test(rolloutId)) throw new Error(`rollout id "${rolloutId}" must match ${ROLLOUT_ID}`);
  if (!TABLE.test(table)) throw new Error(`table name "${table}" must match ${TABLE}`);
  return `backup_${rolloutId.replaceAll('-', '_')}_${table}`;
}

export interface TableFingerprint {
  rowCount: number;
  /** Sum of per-row md5 prefixes as a decimal string: independent of row order and of physical layout. */
  checksum: string;
}

/** Row count and order-independent checksum of a table, in the caller's snapshot. */
export async function fingerprintTable(db: Db, table: string): Promise<TableFingerprint> {
  const result = await sql<{ row_count: number; checksum: string }>`
    select count(*)::bigint as row_count,
           coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text as checksum
    from ${sql.table(table)} as t
  `.execute(db);
  const row = result.rows[0];
  if (!row) throw new Error(`fingerprint of ${table} returned no row`);
  return { rowCount: row.row_count, checksum: row.checksum };
}

export async function tableExists(db: Db, table: string): Promise<boolean> {
  const result = await sql<{
    found: string | null;
  }>`select to_regclass(${`public.${table}`})::text as found`.execute(db);
  return result.rows[0]?.found != null;
}

export function findBackupRecord(
  db: Db,
  rolloutId: string,
  sourceTable: string,
): Promise<BackupRow | undefined> {
  return db
    .selectFrom('rollout_backups')
    .selectAll()
    .where('rollout_id', '=', rolloutId)
    .where('source_table', '=', sourceTable)
    .executeTakeFirst();
}

export interface BackupResult extends TableFingerprint {
  sourceTable: string;
  backupTable: string;
  /** True when a verified backup from an earlier attempt of this rollout was reused. */
  reused: boolean;
}

/**
 * Copies `sourceTable` into its backup table (same columns, defaults and indexes) and verifies row count and
 * checksum against the live table in the same snapshot, all in one transaction: a crash leaves either a
 * verified, recorded backup or nothing. A rerun reuses a verified backup; a backup that no longer matches its
 * record is an error, never overwritten.
 */
export async function backupTable(
  db: Kysely<Database>,
  rolloutId: string,
  sourceTable: string,
): Promise<BackupResult> {
  const backup = backupTableName(rolloutId, sourceTable);
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const record = await findBackupRecord(trx, rolloutId, sourceTable);
      if (record) {
        if (!(await tableExists(trx, backup))) {
          throw new Error(
            `backup of ${sourceTable} is recorded for rollout ${rolloutId} but ${backup} is missing`,
          );
        }
        const found = await fingerprintTable(trx, backup);
        if (found.rowCount !== record.row_count || found.checksum !== record.checksum) {
          throw new Error(
            `backup ${backup} no longer matches its record (rows ${found.rowCount} vs ${record.row_count}); refusing to reuse or overwrite it`,
          );
        }
        return { sourceTable, backupTable: backup, ...found, reused: true };
      }
      if (await tableExists(trx, backup)) {
        throw new Error(`table ${backup} exists but is not a recorded backup; refusing to overwrite it`);
      }
      await sql`set local lock_timeout = '5s'`.execute(trx);
      await sql`create table ${sql.table(backup)} (like ${sql.table(sourceTable)} including all)`.execute(
        trx,
      );
      await sql`insert into ${sql.table(backup)} overriding system value select * from ${sql.table(sourceTable)}`.execute(
        trx,
      );
      const live = await fingerprintTable(trx, sourceTable);
      const copy = await fingerprintTable(trx, backup);
      if (live.rowCount !== copy.rowCount || live.checksum !== copy.checksum) {
        throw new Error(
          `backup ${backup} does not match ${sourceTable}: rows ${copy.rowCount} vs ${live.rowCount}, checksum ${copy.checksum} vs ${live.checksum}`,
        );
      }
      await trx
        .insertInto('rollout_backups')
        .values({
          rollout_id: rolloutId,
          source_table: sourceTable,
          backup_table: backup,
          row_count: copy.rowCount,
          checksum: copy.checksum,
        })
        .execute();
      return { sourceTable, backupTable: backup, ...copy, reused: false };
    });
}
