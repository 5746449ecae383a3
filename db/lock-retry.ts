import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely, Transaction } from 'kysely';
import { lockTimeoutSetting, transactionWith } from './transaction-settings';

/** lock_not_available (lock_timeout), deadlock_detected, serialization_failure. */
const LOCK_CONFLICT_CODES = new Set(['55P03', '40P01', '40001']);
const QUERY_CANCELED = '57014';

/** The SQLSTATE of a Postgres error, if `error` is one. */
export function pgErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for errors that mean "someone else held the lock": worth retrying the same work after a pause. */
export function isLockConflict(error: unknown): boolean {
  const code = pgErrorCode(error);
  return code !== undefined && LOCK_CONFLICT_CODES.has(code);
}

/** True when Postgres cancelled the statement (statement_timeout): the batch was too large. */
export function isStatementTimeout(error: unknown): boolean {
  return pgErrorCode(error) === QUERY_CANCELED;
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * Runs `work` again after a lock conflict, with exponential backoff and jitter; any other error, or the
 * last conflict, propagates (the activity's own retry policy takes over from there).
 */
export async function retryOnLockConflict<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 8;
  const base = options.baseDelayMs ?? 50;
  const max = options.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isLockConflict(error) || attempt >= attempts) throw error;
      options.onRetry?.(error, attempt);
      // Jitter keeps two retrying sessions from colliding again in lockstep.
      await sleep(Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
    }
  }
}

/**
 * One short transaction under `lockTimeoutMs`, retried on lock conflicts: for DDL and bookkeeping writes
 * that must give way to application writers instead of queueing them behind a lock.
 */
export function lockingTransaction<DB, T>(
  db: Kysely<DB>,
  options: { lockTimeoutMs: number; retry?: RetryOptions },
  work: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  return retryOnLockConflict(
    () => transactionWith(db, lockTimeoutSetting(options.lockTimeoutMs), work),
    options.retry,
  );
}
