import { sql, type Kysely, type Transaction } from 'kysely';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { rowHash } from '../../db/row-sql';
import { lockTimeoutSetting, setLocal } from '../../db/transaction-settings';
import type { BackupRow, Database } from '../../db/schema';

type Db = Kysely<Database> | Transaction<Database>;

/** Single underscores only, so the `__` between id and table in a backup name is unambiguous. */
const TABLE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const MAX_IDENTIFIER_BYTES = 63;

/**
 * The backup table of one source table in one rollout: `backup_<rollout id>__<table>`. Distinct inputs give
 * distinct names (the id has no `__`, the table none either), and a name Postgres would truncate past 63
 * bytes is refused rather than silently shortened into a possible collision.
 *
 * @example
 * backupTableName('r-20261126-ab12', 'runtime_config'); // 'backup_r_20261126_ab12__runtime_config'
 */
export function backupTableName(rolloutId: string, table: string): string {
  if (!ROLLOUT_ID.test(rolloutId)) throw new Error(`rollout id "${rolloutId}" must match ${ROLLOUT_ID}`);
  if (!TABLE.test(table)) throw new Error(`table name "${table}" must match ${TABLE}`);
  const name = `backup_${rolloutId.replaceAll('-', '_')}__${table}`;
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new Error(`backup table name ${name} is longer than Postgres's ${MAX_IDENTIFIER_BYTES}-byte limit`);
  }
  return name;
}

/** A backup that cannot be trusted or would be overwritten: retrying cannot fix it, a person must look. */
export class BackupIntegrityError extends Error {
  override name = 'BackupIntegrityError';
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
           coalesce(sum(${rowHash(sql`t`)}), 0)::text as checksum
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

/** A data phase was asked to change a table the rollout has no verified backup of: it refuses to start. */
export class MissingBackupError extends Error {
  override name = 'MissingBackupError';

  constructor(rolloutId: string, table: string, phase: string) {
    super(`rollout ${rolloutId} has no verified backup of ${table}; the ${phase} runs only after one`);
  }
}

/** The rollout's recorded backup of `table`, whose table still exists; else {@link MissingBackupError}. */
export async function requireBackup(
  db: Db,
  rolloutId: string,
  table: string,
  phase: string,
): Promise<BackupRow> {
  const record = await findBackupRecord(db, rolloutId, table);
  if (!record || !(await tableExists(db, record.backup_table)))
    throw new MissingBackupError(rolloutId, table, phase);
  return record;
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
          throw new BackupIntegrityError(
            `backup of ${sourceTable} is recorded for rollout ${rolloutId} but ${backup} is missing`,
          );
        }
        const found = await fingerprintTable(trx, backup);
        if (found.rowCount !== record.row_count || found.checksum !== record.checksum) {
          throw new BackupIntegrityError(
            `backup ${backup} no longer matches its record (rows ${found.rowCount} vs ${record.row_count}); refusing to reuse or overwrite it`,
          );
        }
        return { sourceTable, backupTable: backup, ...found, reused: true };
      }
      if (await tableExists(trx, backup)) {
        throw new BackupIntegrityError(
          `table ${backup} exists but is not a recorded backup; refusing to overwrite it`,
        );
      }
      await setLocal(trx, lockTimeoutSetting(5_000));
      await sql`create table ${sql.table(backup)} (like ${sql.table(sourceTable)} including all)`.execute(
        trx,
      );
      await sql`insert into ${sql.table(backup)} overriding system value select * from ${sql.table(sourceTable)}`.execute(
        trx,
      );
      const live = await fingerprintTable(trx, sourceTable);
      const copy = await fingerprintTable(trx, backup);
      if (live.rowCount !== copy.rowCount || live.checksum !== copy.checksum) {
        throw new BackupIntegrityError(
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
