import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema';
import type { RuntimeConfigReader } from '../reader/runtime-config-reader';
import { withTimeout } from '../reader/with-timeout';
import { isSecretKey } from '../secrets/secret-keys';

export interface WarmUpOptions {
  /** At most this many global keys, the most recently updated first. */
  maxKeys: number;
  /** Loads in flight at once: enough to overlap round trips, few enough to leave the pool to requests. */
  concurrency: number;
  timeoutMs: number;
}

export interface WarmUpReport {
  keys: number;
  failed: number;
  ms: number;
}

/**
 * Loads the global values of the most recently updated keys into the reader's cache, so the first requests
 * after a start are hits. Asynchronous throughout (a few loads in flight, each a query): the event loop keeps
 * serving `/healthz` and early requests meanwhile. Secrets are skipped (they load on demand, masked), and a
 * key that fails to load is counted, not fatal: the request that needs it will report the problem.
 *
 * Run it after the reader subscribed: the reader drops its whole cache on (re)subscription.
 *
 * @example
 * const report = await warmUpCache(db, reader, { maxKeys: 1_000, concurrency: 4, timeoutMs: 10_000 });
 */
export async function warmUpCache(
  db: Kysely<Database>,
  reader: RuntimeConfigReader,
  options: WarmUpOptions,
): Promise<WarmUpReport> {
  const started = performance.now();
  const result = await withTimeout(
    sql<{ key: string }>`
      select normalized as key
      from (
        select to_snake_case(key) as normalized, max(updated_at) as latest
        from runtime_config
        where user_id is null and value_type <> 'secret'
        group by 1
      ) keys
      order by latest desc
      limit ${options.maxKeys}
    `.execute(db),
    options.timeoutMs,
    'listing config keys to warm the cache',
  );
  const keys = result.rows.map((row) => row.key).filter((key) => key !== '' && !isSecretKey(key));
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++] as string;
      try {
        await reader.get(key);
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  return { keys: keys.length, failed, ms: Math.round(performance.now() - started) };
}
