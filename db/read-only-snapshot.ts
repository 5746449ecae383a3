import { sql, type Kysely, type Transaction } from 'kysely';
import { setLocal } from './transaction-settings';

/**
 * Runs `read` in one read-only, repeatable-read transaction: every statement sees the same snapshot, so
 * counts and checksums taken by different statements agree with each other. JIT is off: verification
 * statements scan whole tables once, and compiling them costs more than it saves.
 */
export function readOnlySnapshot<DB, T>(
  db: Kysely<DB>,
  read: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      await sql`set transaction read only`.execute(trx);
      await setLocal(trx, { jit: 'off' });
      return read(trx);
    });
}
