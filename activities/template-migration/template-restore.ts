import { sql, type Kysely, type RawBuilder } from 'kysely';
import { lockingTransaction, type RetryOptions } from '../../db/lock-retry';
import { readOnlySnapshot } from '../../db/read-only-snapshot';
import { rowOf } from '../../db/row-sql';
import type { Database } from '../../db/schema';
import { limitSettings } from '../../db/transaction-settings';
import { BackupRestore, type RestoreOptions } from '../shared/restore-from-backup';
import { verifyRestore, type KeptReason, type KeptWrites } from '../shared/restore-verification';
import { TEMPLATE_TABLE } from './template-migration';

const MIGRATED_COLUMN = 'llm_preferences';
const REQUIRED_COLUMNS = ['id', 'name', MIGRATED_COLUMN] as const;

export interface KeptTemplate {
  id: number;
  reason: KeptReason;
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
  kept: KeptWrites<KeptTemplate>;
  /** Backed-up rows with no write after the backup, and their checksum (verified equal to the backup's). */
  untouchedRows: number;
  untouchedChecksum: string;
  /** This rollout's quarantine records, kept as history (the run row says the rollout was rolled back). */
  quarantineRecords: number;
  seconds: number;
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

/**
 * Stamps the rollout's template migration as rolled back (creating its run row if the migration never ran).
 * Waits for a migration batch in flight (it holds a share lock on the row); every later batch sees the stamp
 * and stops, so nothing is migrated again behind the restore.
 */
async function stampRolledBack(
  db: Kysely<Database>,
  rolloutId: string,
  lockTimeoutMs: number,
  retry: RetryOptions | undefined,
): Promise<void> {
  await lockingTransaction(db, { lockTimeoutMs, retry }, (trx) =>
    sql`
      insert into template_migrations (rollout_id, rolled_back_at) values (${rolloutId}, now())
      on conflict (rollout_id) do update
        set rolled_back_at = coalesce(template_migrations.rolled_back_at, excluded.rolled_back_at)
    `.execute(trx),
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
 * restores nothing and says so). Verified at the end, in the same snapshot as the
 * quarantine count (activities/shared/restore-verification.ts).
 *
 * @example
 * const report = await restoreTemplates(db, { rolloutId: 'r-20261126-ab12' });
 * report.kept.rows; // [..., { id: 1_001, reason: 'inserted-after-backup', name: 'new camel' }]
 */
export async function restoreTemplates(
  db: Kysely<Database>,
  options: RestoreOptions,
): Promise<TemplateRestoreReport> {
  const started = performance.now();
  const { rolloutId } = options;
  const restore = await BackupRestore.open(db, options, TEMPLATE_TABLE);
  const { backupTable, limits } = restore;
  await stampRolledBack(db, rolloutId, limits.lockTimeoutMs, options.retry);
  const columns = await restore.columns(REQUIRED_COLUMNS);
  const others = columns.filter((column) => column !== MIGRATED_COLUMN);
  const backup = sql.table(backupTable);

  const last = await sql<{ end: number | null }>`
    select max(template_id) as end from template_migration_changes where rollout_id = ${rolloutId}
  `.execute(db);
  const totals = { restored: 0 };
  await restore.batches(
    {
      end: last.rows[0]?.end ?? 0,
      batchSize: options.batchSize ?? 20_000,
      settings: limitSettings(limits),
    },
    totals,
    async (trx, from, to) => {
      const result = await sql`
        update prompt_templates as l set llm_preferences = b.llm_preferences
        from template_migration_changes as c
        join ${backup} as b on b.id = c.template_id
        where c.rollout_id = ${rolloutId} and c.template_id > ${from} and c.template_id <= ${to}
          and l.id = c.template_id and ${migratedOnly(others)}
      `.execute(trx);
      return { restored: Number(result.numAffectedRows ?? 0n) };
    },
  );

  const { check, quarantineRecords } = await readOnlySnapshot(db, async (trx) => ({
    check: await verifyRestore(trx, {
      table: TEMPLATE_TABLE,
      record: restore.record,
      columns,
      join: sql`
        left join template_migration_changes as c
          on c.rollout_id = ${rolloutId} and c.template_id = coalesce(l.id, b.id)`,
      untouched: sql<boolean>`(${rowOf('l', columns)} is not distinct from ${rowOf('b', columns)} or ${migratedOnly(others)})`,
      // The migration never deletes: a missing template was deleted by an application, and stays deleted.
      deletedByPhase: sql<boolean>`false`,
      describe: ['name'],
      listLimit: options.listLimit ?? 100,
      unrestoredAre: 'still hold what the migration wrote',
    }),
    quarantineRecords: Number(
      (
        await trx
          .selectFrom('template_quarantine')
          .select((eb) => eb.fn.countAll<number>().as('records'))
          .where('rollout_id', '=', rolloutId)
          .executeTakeFirst()
      )?.records ?? 0,
    ),
  }));
  return {
    rolloutId,
    backupTable,
    restored: totals.restored,
    nothingToDo: totals.restored === 0,
    kept: {
      ...check.kept,
      rows: check.kept.rows.map(({ id, reason, row }) => ({ id, reason, name: String(row.name) })),
    },
    untouchedRows: check.untouchedRows,
    untouchedChecksum: check.untouchedChecksum,
    quarantineRecords,
    seconds: (performance.now() - started) / 1000,
  };
}
