import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema';
import type { FlagStatus, UnifiedConfigFlag } from '../flags/unified-config-flag';
import type { ReaderStatus, RuntimeConfigReader } from '../reader/runtime-config-reader';
import { withTimeout } from '../reader/with-timeout';

export interface ReadinessReport {
  ready: boolean;
  database: { ok: boolean; error?: string };
  /** `subscribed` (push invalidation live) or `ttl-only` (configured without push) count as ready. */
  reader: { ok: boolean; status: ReaderStatus };
  flag: { ok: boolean } & Pick<FlagStatus, 'origin' | 'override' | 'reachable'>;
  warmUp: { ok: boolean };
  shuttingDown: boolean;
}

export interface ReadinessDeps {
  db: Kysely<Database>;
  reader: RuntimeConfigReader;
  flag: UnifiedConfigFlag;
  timeoutMs: number;
  warm: () => boolean;
  shuttingDown: () => boolean;
}

/**
 * `/readyz`: ready to take traffic when Postgres answers, the reader's push invalidation is live (a reader
 * that cannot hear invalidations serves values up to a TTL old), the flag's state is known (an override, or
 * Unleash's state live or from the backup file: otherwise every user would get the default path, whatever
 * the rollout says), and the cache is warm. Never ready while shutting down, so load balancers drain it.
 *
 * @example
 * const report = await checkReadiness({ db, reader, flag, timeoutMs: 2_000, warm: () => true, shuttingDown: () => false });
 */
export async function checkReadiness(deps: ReadinessDeps): Promise<ReadinessReport> {
  let database: ReadinessReport['database'];
  try {
    await withTimeout(sql`select 1`.execute(deps.db), deps.timeoutMs, 'select 1 on Postgres');
    database = { ok: true };
  } catch (error) {
    database = { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  const readerStatus = deps.reader.status();
  const flag = deps.flag.status();
  const report: Omit<ReadinessReport, 'ready'> = {
    database,
    reader: { ok: readerStatus === 'subscribed' || readerStatus === 'ttl-only', status: readerStatus },
    flag: { ok: flag.ready, origin: flag.origin, override: flag.override, reachable: flag.reachable },
    warmUp: { ok: deps.warm() },
    shuttingDown: deps.shuttingDown(),
  };
  const ready =
    report.database.ok && report.reader.ok && report.flag.ok && report.warmUp.ok && !report.shuttingDown;
  return { ready, ...report };
}
