import type { Kysely, Transaction } from 'kysely';
import type { BatchSizer } from './batch-sizer';
import { isStatementTimeout, retryOnLockConflict, type RetryOptions } from './lock-retry';
import { transactionWith, type TransactionSettings } from './transaction-settings';

export interface BatchTiming {
  /** The data statement alone. */
  statementMs: number;
  /** The whole transaction: settings, statement and commit. */
  batchMs: number;
}

/** What a batched phase counts over all its batches (and attempts, when its checkpoint carries them). */
export interface BatchTotals {
  batches: number;
  maxBatchMs: number;
  lockRetries: number;
  timeoutRetries: number;
}

export interface BatchRunnerOptions {
  /** Names the phase in the error of a cancellation that gives no reason of its own. */
  what: string;
  /** Checked before every batch: once aborted, the phase stops between two batches with the signal's reason. */
  signal?: AbortSignal;
  /** Counted into after every batch and every retry, when given. */
  totals?: BatchTotals;
  retry?: RetryOptions;
  /** Called after every committed batch: the phase's checkpoint goes out (with the next heartbeat). */
  checkpoint?: () => void;
}

export interface Sweep<T> {
  /** Whether another batch is due. */
  more: () => boolean;
  /** One batch of `size` units, in its own transaction(s); run again after a lock conflict or timeout. */
  batch: (size: number) => Promise<T>;
  /** Takes in a committed batch (moves the cursor, adds up counts) before the checkpoint. */
  after: (result: T) => void | Promise<void>;
}

/** Statement timeouts a single batch may hit, each followed by a smaller retry, before the error propagates. */
const MAX_TIMEOUT_RETRIES = 5;

/**
 * The one way the data phases and their rollbacks run batches: each batch a short transaction under
 * statement and lock timeouts; a lock conflict retried with backoff; a statement timeout retried with a
 * quarter of the size (bounded, and never below the sizer's minimum); cancellation honoured between batches;
 * a checkpoint after each committed batch. Anything else propagates, for the activity's retry policy.
 *
 * @example
 * const runner = new BatchRunner({ what: 'key migration', signal, totals: progress.totals, checkpoint });
 * await runner.sweep(sizer, { more: () => cursor < end, batch: (size) => renameBatch(...), after: (r) => { cursor = r.cursor; } });
 */
export class BatchRunner {
  /** Lock retries counted into the totals: share it with any other locking statement of the phase. */
  readonly retry: RetryOptions;

  constructor(private readonly options: BatchRunnerOptions) {
    this.retry = {
      ...options.retry,
      onRetry: (error, attempt) => {
        if (options.totals) options.totals.lockRetries++;
        options.retry?.onRetry?.(error, attempt);
      },
    };
  }

  throwIfAborted(): void {
    const { signal } = this.options;
    if (signal?.aborted)
      throw signal.reason instanceof Error ? signal.reason : new Error(`${this.options.what} cancelled`);
  }

  /** One batch at the sizer's current size, with lock retries; a statement timeout shrinks the sizer. */
  async run<T extends Pick<BatchTiming, 'batchMs'>>(
    sizer: BatchSizer,
    batch: (size: number) => Promise<T>,
  ): Promise<T> {
    const { totals } = this.options;
    for (let timeouts = 0; ; timeouts++) {
      try {
        const result = await retryOnLockConflict(() => batch(sizer.current), this.retry);
        if (totals) {
          totals.batches++;
          totals.maxBatchMs = Math.max(totals.maxBatchMs, result.batchMs);
        }
        return result;
      } catch (error) {
        if (!isStatementTimeout(error) || timeouts >= MAX_TIMEOUT_RETRIES || sizer.atMin) throw error;
        if (totals) totals.timeoutRetries++;
        sizer.shrink();
      }
    }
  }

  /** Batches while `more()` says so: cancellation checked before each, the checkpoint sent after each. */
  async sweep<T extends Pick<BatchTiming, 'batchMs'>>(sizer: BatchSizer, sweep: Sweep<T>): Promise<void> {
    while (sweep.more()) {
      this.throwIfAborted();
      const result = await this.run(sizer, sweep.batch);
      await sweep.after(result);
      this.options.checkpoint?.();
    }
  }
}

/**
 * Runs `statement` in its own transaction under `settings`, timing the statement alone and the whole batch
 * (settings, statement and commit).
 */
export async function timedBatch<DB, T>(
  db: Kysely<DB>,
  settings: TransactionSettings,
  statement: (trx: Transaction<DB>) => Promise<T>,
): Promise<{ value: T } & BatchTiming> {
  const started = performance.now();
  let statementMs = 0;
  const value = await transactionWith(db, settings, async (trx) => {
    const statementStarted = performance.now();
    const result = await statement(trx);
    statementMs = performance.now() - statementStarted;
    return result;
  });
  return { value, statementMs, batchMs: performance.now() - started };
}
