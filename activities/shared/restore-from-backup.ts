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

/**
 * One restore of one table from the rollout's verified backup: the record and table it restores from, its
 * statement limits, and its batches. The phase's own restore says what to undo; this part is shared.
 *
 * @example
 * const restore = await BackupRestore.open(db, options, 'prompt_templates');
 * const columns = await restore.columns(['id', 'name', 'llm_preferences']);
 * await restore.batches({ end, batchSize: 20_000, settings: limitSettings(restore.limits) }, totals, batch);
 */
export class BackupRestore {
  private constructor(
    private readonly db: Kysely<Database>,
    private readonly options: RestoreOptions,
    readonly record: BackupRow,
    readonly limits: StatementLimits,
  ) {}

  /**
   * Finds the rollout's recorded backup of `table` and checks that its table exists. Refuses with
   * {@link RestorePreconditionError} (retrying cannot help) when either is gone: nothing to restore from.
   */
  static async open(db: Kysely<Database>, options: RestoreOptions, table: string): Promise<BackupRestore> {
    const { rolloutId } = options;
    if (!ROLLOUT_ID.test(rolloutId)) throw new Error(`rollout id "${rolloutId}" must match ${ROLLOUT_ID}`);
    const record = await findBackupRecord(db, rolloutId, table);
    if (!record)
      throw new RestorePreconditionError(`rollout ${rolloutId} has no recorded backup of ${table}`);
    if (!isPlainIdentifier(record.backup_table) || !(await tableExists(db, record.backup_table))) {
      throw new RestorePreconditionError(
        `backup ${record.backup_table} of ${table} is recorded but missing; nothing to restore from`,
      );
    }
    // A restore batch re-checks every row of its id range against the backup: it may take longer.
    const limits = { ...DEFAULT_LIMITS, statementTimeoutMs: 60_000, ...options.limits };
    return new BackupRestore(db, options, record, limits);
  }

  get backupTable(): string {
    return this.record.backup_table;
  }

  /** The backup's columns in order (the live table's when it was taken); each of `required` must be one. */
  async columns(required: readonly string[]): Promise<string[]> {
    const columns = await tableColumns(this.db, this.backupTable);
    for (const column of required) {
      if (!columns.includes(column))
        throw new RestorePreconditionError(`${this.backupTable} has no ${column} column`);
    }
    return columns;
  }

  /**
   * Runs the batches over the ids after `resumeFrom` up to `end`, `batchSize` ids each, every batch one short
   * transaction under `settings` (db/batch-runner.ts: lock conflicts retried; a statement timeout propagates,
   * the size being fixed), its counts added into `totals` once committed and the cursor checkpointed through
   * `onProgress`.
   */
  async batches<K extends string>(
    input: { end: number; batchSize: number; settings: TransactionSettings },
    totals: Record<K, number>,
    batch: (trx: Transaction<Database>, from: number, to: number) => Promise<Record<K, number>>,
  ): Promise<void> {
    const { end } = input;
    let cursor = this.options.resumeFrom ?? 0;
    const runner = new BatchRunner({
      what: `restore of ${this.record.source_table}`,
      retry: this.options.retry,
      checkpoint: () => this.options.onProgress?.({ cursor, end }),
    });
    await runner.sweep(BatchSizer.fixed(input.batchSize), {
      more: () => cursor < end,
      batch: async (size) => {
        const from = cursor;
        const to = Math.min(cursor + size, end);
        return { to, ...(await timedBatch(this.db, input.settings, (trx) => batch(trx, from, to))) };
      },
      after: ({ to, value }) => {
        for (const key in value) totals[key] += value[key];
        cursor = to;
      },
    });
  }
}
