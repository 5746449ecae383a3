import type { Kysely, Transaction } from 'kysely';
import { BatchRunner, timedBatch } from '../../db/batch-runner';
import { BatchSizer } from '../../db/batch-sizer';
import type { RetryOptions } from '../../db/lock-retry';
import { isPlainIdentifier, tableColumns } from '../../db/row-sql';
import type { BackupRow, Database } from '../../db/schema';
import {
  DEFAULT_LIMITS,
  type StatementLimits,
  type TransactionSettings,
} from '../../db/transaction-settings';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { findBackupRecord, tableExists } from '../backup/table-backups';
import { RestorePreconditionError } from './restore-precondition-error';
import type { RestoreProgress } from './restore-progress';

/** What the caller of a restore chooses; what the phase changed, and so what to undo, is the restore's own. */
export interface RestoreOptions {
  rolloutId: string;
  /** Ids per restore batch (one short transaction each). */
  batchSize?: number;
  limits?: Partial<StatementLimits>;
  /** How many kept rows the report lists one by one (all are counted). */
  listLimit?: number;
  /** Ids up to here were restored by an earlier attempt. */
  resumeFrom?: number;
  onProgress?: (progress: RestoreProgress) => void;
  retry?: RetryOptions;
}

/** A restore batch re-checks every row of its id range against the backup: it may run longer than a migration batch. */
export function restoreLimits(limits: Partial<StatementLimits> = {}): StatementLimits {
  return { ...DEFAULT_LIMITS, statementTimeoutMs: 60_000, ...limits };
}

/**
 * The rollout's recorded backup of `table`, its table checked to exist. Refuses with
 * {@link RestorePreconditionError} (retrying cannot help) when either is gone: there is nothing to restore from.
 */
export async function openBackup(db: Kysely<Database>, rolloutId: string, table: string): Promise<BackupRow> {
  if (!ROLLOUT_ID.test(rolloutId)) throw new Error(`rollout id "${rolloutId}" must match ${ROLLOUT_ID}`);
  const record = await findBackupRecord(db, rolloutId, table);
  if (!record) throw new RestorePreconditionError(`rollout ${rolloutId} has no recorded backup of ${table}`);
  if (!isPlainIdentifier(record.backup_table) || !(await tableExists(db, record.backup_table))) {
    throw new RestorePreconditionError(
      `backup ${record.backup_table} of ${table} is recorded but missing; nothing to restore from`,
    );
  }
  return record;
}

/** The backup's columns in order (the live table's when it was taken); each of `required` must be one. */
export async function backupColumns(
  db: Kysely<Database>,
  backupTable: string,
  required: readonly string[],
): Promise<string[]> {
  const columns = await tableColumns(db, backupTable);
  for (const column of required) {
    if (!columns.includes(column))
      throw new RestorePreconditionError(`${backupTable} has no ${column} column`);
  }
  return columns;
}

/**
 * Runs a restore's batches over the ids after `resumeFrom` up to `end`, `batchSize` ids each, every batch one
 * short transaction under `settings` (db/batch-runner.ts: lock conflicts retried; a statement timeout
 * propagates, the size being fixed), its counts added into `totals` once committed and the cursor
 * checkpointed through `onProgress`.
 */
export async function restoreInBatches<K extends string>(
  db: Kysely<Database>,
  options: RestoreOptions & { end: number; batchSize: number; settings: TransactionSettings },
  totals: Record<K, number>,
  batch: (trx: Transaction<Database>, from: number, to: number) => Promise<Record<K, number>>,
): Promise<void> {
  const { end } = options;
  let cursor = options.resumeFrom ?? 0;
  const runner = new BatchRunner({
    what: 'restore',
    retry: options.retry,
    checkpoint: () => options.onProgress?.({ cursor, end }),
  });
  await runner.sweep(BatchSizer.fixed(options.batchSize), {
    more: () => cursor < end,
    batch: async (size) => {
      const from = cursor;
      const to = Math.min(cursor + size, end);
      return { to, ...(await timedBatch(db, options.settings, (trx) => batch(trx, from, to))) };
    },
    after: ({ to, value }) => {
      for (const key in value) totals[key] += value[key];
      cursor = to;
    },
  });
}
