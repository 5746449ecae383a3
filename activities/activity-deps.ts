import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema';
import type { UnleashAdminClient } from '../src/unleash/unleash-admin-client';

/** Everything an activity may touch, passed in explicitly by the worker (or a test). */
export interface ActivityDeps {
  db: Kysely<Database>;
  unleash: UnleashAdminClient;
  logger: Logger;
}
