import { sql, type Kysely, type Transaction } from 'kysely';

/** Settings for the current transaction only (`set_config(name, value, true)`): gone at commit or rollback. */
export type TransactionSettings = Readonly<Record<string, string>>;

export interface StatementLimits {
  /** How long a statement may wait for a row or table lock before giving up (then retried with backoff). */
  lockTimeoutMs: number;
  /** Upper bound of one batch statement; a batch that hits it is retried smaller. */
  statementTimeoutMs: number;
}

export const DEFAULT_LIMITS: StatementLimits = { lockTimeoutMs: 1_000, statementTimeoutMs: 15_000 };

/**
 * The limits of a batch transaction, and JIT off: batch statements are estimated pessimistically, so JIT
 * would kick in, and compiling them costs more than it saves.
 */
export function limitSettings(limits: StatementLimits): TransactionSettings {
  return {
    lock_timeout: `${limits.lockTimeoutMs}ms`,
    statement_timeout: `${limits.statementTimeoutMs}ms`,
    jit: 'off',
  };
}

/** Only the lock timeout: for a short DDL or bookkeeping statement that must not queue behind writers. */
export function lockTimeoutSetting(lockTimeoutMs: number): TransactionSettings {
  return { lock_timeout: `${lockTimeoutMs}ms` };
}

/**
 * Planner settings for batch statements built to walk one index range and probe the rest by key:
 * - no hash or merge joins: a group lookup's NULL-user branch is estimated far above what it finds, and with
 *   that estimate the planner prefers hashing the whole table to deleting the few rows of one page;
 * - more work_mem, so a page groups in memory instead of spilling to disk.
 */
export const INDEX_WALK_SETTINGS: TransactionSettings = {
  work_mem: '64MB',
  enable_hashjoin: 'off',
  enable_mergejoin: 'off',
};

/** Applies `settings` to the current transaction in one statement. */
export async function setLocal<DB>(trx: Transaction<DB>, settings: TransactionSettings): Promise<void> {
  const entries = Object.entries(settings);
  if (entries.length === 0) return;
  await sql`select ${sql.join(entries.map(([name, value]) => sql`set_config(${name}, ${value}, true)`))}`.execute(
    trx,
  );
}

/** Runs `work` in one transaction that starts by applying `settings`. */
export function transactionWith<DB, T>(
  db: Kysely<DB>,
  settings: TransactionSettings,
  work: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await setLocal(trx, settings);
    return work(trx);
  });
}
