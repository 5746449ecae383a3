import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema';
import type { UnleashAdminClient } from '../src/unleash/unleash-admin-client';

/**
 * Time as the gated soak sees it. Production uses real time ({@link realActivityClock} inside the activity);
 * a test injects a fast clock to take a thousand 1 s measurements in seconds.
 */
export interface ActivityClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Waits `ms`; rejects once `signal` (the activity's cancellation) aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** Everything an activity may touch, passed in explicitly by the worker (or a test). */
export interface ActivityDeps {
  db: Kysely<Database>;
  unleash: UnleashAdminClient;
  logger: Logger;
  /**
   * The environment gate providers read named settings from (`bearerTokenEnv`, `databaseUrlEnv`): the worker
   * passes its own (`process.env`). Absent: an empty one, so a gate naming a variable is inconclusive.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** The gated soak's clock; absent: real time. */
  clock?: ActivityClock;
}
