import { sql, type Kysely, type RawBuilder } from 'kysely';
import { retryOnLockConflict, type RetryOptions } from '../../db/lock-retry';
import { DEFAULT_LIMITS, type StatementLimits } from '../../db/transaction-settings';
import { isPlainIdentifier, rowHash, rowOf, tableColumns } from '../../db/row-sql';
import type { Database } from '../../db/schema';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { findBackupRecord, tableExists } from '../backup/table-backups';
import { TEMPLATE_TABLE } from './template-migration';
import type { TemplateMigrationTables } from '../../db/template-quarantine-schema';
import { RestorePreconditionError } from '../shared/restore-precondition-error';

const MIGRATED_COLUMN = 'llm_preferences';
const REQUIRED_COLUMNS = ['id', 'name', MIGRATED_COLUMN] as const;

export interface TemplateRestoreOptions {
  rolloutId: string;
  /** Template ids per restore batch (one short transaction each). Default 20,000. */
  batchSize?: number;
  limits?: Partial<StatementLimits>;
  /** How many kept rows the report lists one by one (all are counted). Default 100. */
  listLimit?: number;
  /** Template ids up to here were restored by an earlier attempt. */
  resumeFrom?: number;
  onProgress?: (progress: { cursor: number; end: number }) => void;
  retry?: RetryOptions;
}

export type KeptTemplateReason = 'inserted-after-backup' | 'written-after-backup' | 'deleted-after-backup';

export interface KeptTemplate {
  id: number;
  reason: KeptTemplateReason;
  /** The template's name (of the backed-up row when it was deleted); never its body. */
  name: string;
}

export interface TemplateRestoreReport {
  rolloutId: string;
  backupTable: string;
  /** Templates this call put back to their backed-up llm_preferences. */
  restored: number;
  /** True when the table already matched: nothing was changed. */
  nothingToDo: boolean;
  /** Writes made after the backup: never discarded, listed here. */
  kept: {
    insertedAfterBackup: number;
    writtenAfterBackup: number;
    deletedAfterBackup: number;
    /** The first `listLimit` kept rows by id. */
    rows: KeptTemplate[];
    truncated: boolean;
  };
  /** Backed-up rows with no write after the backup, and their checksum (verified equal to the backup's). */
  untouchedRows: number;
  untouchedChecksum: string;
  /** This rollout's quarantine records, kept as history (the run row says the rollout was rolled back). */
  quarantineRecords: number;
  seconds: number;
}

export class TemplateRestoreVerificationError extends Error {
  constructor(
    /** `backup-changed`: the backup no longer matches its record (retrying cannot help). */
    readonly kind: 'backup-changed' | 'not-converged',
    message: string,
  ) {
    super(message);
    this.name = 'TemplateRestoreVerificationError';
  }
}

/**
 * True where live row `l` holds exactly what the migration wrote (ledger `c`) over exactly what backup row
 * `b` holds, and nothing else changed since the backup: the migration's own work, to be put back. Hashes
 * compare the whole jsonb value, so an application write of any other content, with or without a new
 * `updated_at`, does not match.
 */
function migratedOnly(others: readonly string[]): RawBuilder<boolean> {
  return sql<boolean>`(
    c.template_id is not null
    and md5(l.llm_preferences::text)::uuid = c.written_hash
    and md5(b.llm_preferences::text)::uuid = c.previous_hash
    and ${rowOf('l', others)} is not distinct from ${rowOf('b', others)}
  )`;
}

async function backupColumns(db: Kysely<Database>, backupTable: string): Promise<string[]> {
  const columns = await tableColumns(db, backupTable);
  for (const required of REQUIRED_COLUMNS) {
    if (!columns.includes(required))
      throw new RestorePreconditionError(`${backupTable} has no ${required} column`);
  }
  return columns;
}

/**
 * Stamps the rollout's template migration as rolled back (creating its run row if the migration never ran).
 * Waits for a migration batch in flight (it holds a share lock on the row); every later batch sees the stamp
 * and stops, so nothing is migrated again behind the restore.
 */
async function stampRolledBack(
  db: Kysely<Database>,
  rolloutId: string,
  limits: StatementLimits,
  retry: RetryOptions,
): Promise<void> {
  await retryOnLockConflict(
    () =>
      db.transaction().execute(async (trx) => {
        await sql`select set_config('lock_timeout', ${`${limits.lockTimeoutMs}ms`}, true)`.execute(trx);
        await sql`
          insert into template_migrations (rollout_id, rolled_back_at) values (${rolloutId}, now())
          on conflict (rollout_id) do update
            set rolled_back_at = coalesce(template_migrations.rolled_back_at, excluded.rolled_back_at)
        `.execute(trx);
      }),
    retry,
  );
}

/**
 * Rolls the template migration back from the rollout's verified backup of prompt_templates (SPEC §5
 * Rollback):
 * - a template that still holds exactly what the migration wrote over exactly the backed-up value, with
 *   every other column as backed up, gets its backed-up `llm_preferences` back, byte for byte;
 * - any other difference from the backup is a write made after it (an application update, with or without a
 *   new `updated_at`, also one made before the migration reached the row), and the row is kept as it is and
 *   listed; so are rows inserted after the backup, and rows an application deleted stay deleted and are
 *   listed (the migration never deletes);
 * - quarantine records are kept as history; the run row's `rolled_back_at` marks them as a rolled-back
 *   rollout's, and stops any late migration attempt.
 * Batches over the ledger's template ids, each a short transaction whose conditions Postgres re-checks on
 * the newest row version, so a write racing the restore is never overwritten. Idempotent (a second run
 * restores nothing and says so). Finally, in one snapshot, verifies that the backup still matches its record,
 * and that the checksum of every row without a later write equals the backup's for those rows.
 *
 * @example
 * const report = await restoreTemplates(db, { rolloutId: 'r-20261126-ab12' });
 * report.restored; // 180_412
 * report.kept.rows; // [{ id: 200_001, reason: 'inserted-after-backup', name: 'summarize' }]
 */
export async function restoreTemplates(
  db: Kysely<Database>,
  options: TemplateRestoreOptions,
): Promise<TemplateRestoreReport> {
  const started = performance.now();
  const { rolloutId } = options;
  if (!ROLLOUT_ID.test(rolloutId)) throw new Error(`rollout id "${rolloutId}" must match ${ROLLOUT_ID}`);
  const record = await findBackupRecord(db, rolloutId, TEMPLATE_TABLE);
  if (!record)
    throw new RestorePreconditionError(`rollout ${rolloutId} has no recorded backup of ${TEMPLATE_TABLE}`);
  const backupTable = record.backup_table;
  if (!isPlainIdentifier(backupTable) || !(await tableExists(db, backupTable))) {
    throw new RestorePreconditionError(
      `backup ${backupTable} of ${TEMPLATE_TABLE} is recorded but missing; nothing to restore from`,
    );
  }
  const limits: StatementLimits = { ...DEFAULT_LIMITS, statementTimeoutMs: 60_000, ...options.limits };
  const retry = options.retry ?? {};
  const tdb = db.withTables<TemplateMigrationTables>();
  await stampRolledBack(tdb, rolloutId, limits, retry);
  const columns = await backupColumns(db, backupTable);
  const others = columns.filter((column) => column !== MIGRATED_COLUMN);
  const backup = sql.table(backupTable);

  const last = await sql<{ end: number | null }>`
    select max(template_id) as end from template_migration_changes where rollout_id = ${rolloutId}
  `.execute(db);
  const end = last.rows[0]?.end ?? 0;
  const batchSize = options.batchSize ?? 20_000;
  let restored = 0;
  for (let cursor = options.resumeFrom ?? 0; cursor < end;) {
    const from = cursor;
    const to = Math.min(cursor + batchSize, end);
    restored += await retryOnLockConflict(
      () =>
        db.transaction().execute(async (trx) => {
          await sql`
            select set_config('lock_timeout', ${`${limits.lockTimeoutMs}ms`}, true),
                   set_config('statement_timeout', ${`${limits.statementTimeoutMs}ms`}, true),
                   set_config('jit', 'off', true)
          `.execute(trx);
          const result = await sql`
            update prompt_templates as l set llm_preferences = b.llm_preferences
            from template_migration_changes as c
            join ${backup} as b on b.id = c.template_id
            where c.rollout_id = ${rolloutId} and c.template_id > ${from} and c.template_id <= ${to}
              and l.id = c.template_id and ${migratedOnly(others)}
          `.execute(trx);
          return Number(result.numAffectedRows ?? 0n);
        }),
      retry,
    );
    cursor = to;
    options.onProgress?.({ cursor, end });
  }

  const check = await checkRestore(tdb, {
    rolloutId,
    backupTable,
    columns,
    others,
    listLimit: options.listLimit ?? 100,
  });
  if (check.backupChecksum !== record.checksum || check.backupRows !== record.row_count) {
    throw new TemplateRestoreVerificationError(
      'backup-changed',
      `backup ${backupTable} no longer matches its record (rows ${check.backupRows} vs ${record.row_count}); the restore cannot be verified`,
    );
  }
  if (check.untouchedBackupChecksum !== check.untouchedLiveChecksum || check.unrestored > 0) {
    throw new TemplateRestoreVerificationError(
      'not-converged',
      `restore of ${TEMPLATE_TABLE} did not converge: ${check.unrestored} row(s) still hold what the migration wrote, ` +
        `untouched checksum ${check.untouchedLiveChecksum} vs backup ${check.untouchedBackupChecksum}`,
    );
  }
  return {
    rolloutId,
    backupTable,
    restored,
    nothingToDo: restored === 0,
    kept: check.kept,
    untouchedRows: check.untouchedRows,
    untouchedChecksum: check.untouchedLiveChecksum,
    quarantineRecords: check.quarantineRecords,
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
  quarantineRecords: number;
  kept: TemplateRestoreReport['kept'];
}

/**
 * One read-only snapshot over live ⟗ backup ⟕ ledger. A backed-up live row is "untouched" when it equals
 * the backup or holds only the migration's work; every other difference is a later write. The checksums of
 * the untouched rows, live and backed up, must be equal, which proves the migration's work was put back.
 */
async function checkRestore(
  db: Kysely<Database>,
  input: { rolloutId: string; backupTable: string; columns: string[]; others: string[]; listLimit: number },
): Promise<RestoreCheck> {
  const backup = sql.table(input.backupTable);
  const untouched = sql`(l.id is not null and b.id is not null
    and (${rowOf('l', input.columns)} is not distinct from ${rowOf('b', input.columns)} or ${migratedOnly(input.others)}))`;
  const from = sql`
    from prompt_templates as l
    full join ${backup} as b on b.id = l.id
    left join template_migration_changes as c on c.rollout_id = ${input.rolloutId} and c.template_id = coalesce(l.id, b.id)
  `;
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
        inserted_after: number;
        written_after: number;
        deleted_after: number;
      }>`
        select count(b.id) as backup_rows,
               coalesce(sum(${rowHash(rowOf('b', input.columns))}) filter (where b.id is not null), 0)::text as backup_checksum,
               count(*) filter (where ${untouched}) as untouched_rows,
               coalesce(sum(${rowHash(rowOf('b', input.columns))}) filter (where ${untouched}), 0)::text as untouched_backup,
               coalesce(sum(${rowHash(rowOf('l', input.columns))}) filter (where ${untouched}), 0)::text as untouched_live,
               count(*) filter (where ${untouched} and ${rowOf('l', input.columns)} is distinct from ${rowOf('b', input.columns)})
                 as unrestored,
               count(*) filter (where b.id is null) as inserted_after,
               count(*) filter (where l.id is not null and b.id is not null and not ${untouched}) as written_after,
               count(*) filter (where l.id is null) as deleted_after
        ${from}
      `.execute(trx);
      const listed = await sql<{ id: number; reason: KeptTemplateReason; name: string }>`
        select coalesce(l.id, b.id) as id,
               case when b.id is null then 'inserted-after-backup'
                    when l.id is null then 'deleted-after-backup'
                    else 'written-after-backup' end as reason,
               coalesce(l.name, b.name) as name
        ${from}
        where b.id is null or l.id is null or not ${untouched}
        order by 1
        limit ${input.listLimit + 1}
      `.execute(trx);
      const quarantine = await trx
        .selectFrom('template_quarantine')
        .select((eb) => eb.fn.countAll<number>().as('records'))
        .where('rollout_id', '=', input.rolloutId)
        .executeTakeFirst();
      const s = sums.rows[0];
      if (!s) throw new Error('template restore check returned no row');
      return {
        backupRows: s.backup_rows,
        backupChecksum: s.backup_checksum,
        untouchedRows: s.untouched_rows,
        untouchedBackupChecksum: s.untouched_backup,
        untouchedLiveChecksum: s.untouched_live,
        unrestored: s.unrestored,
        quarantineRecords: Number(quarantine?.records ?? 0),
        kept: {
          insertedAfterBackup: s.inserted_after,
          writtenAfterBackup: s.written_after,
          deletedAfterBackup: s.deleted_after,
          rows: listed.rows.slice(0, input.listLimit),
          truncated: listed.rows.length > input.listLimit,
        },
      };
    });
}
