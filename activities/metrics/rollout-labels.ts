import type { Kysely } from 'kysely';
import { getRun } from '../../db/rollout-runs';
import type { Database } from '../../db/schema';
import type { RolloutMetricLabels } from './activity-metrics';

/**
 * The flag and environment of a rollout, from its run row (activities get only the rollout id, which is never a
 * label: one series per rollout would grow without bound). Undefined before `claimRollout` made the row.
 */
export async function rolloutMetricLabels(
  db: Kysely<Database>,
  rolloutId: string,
): Promise<RolloutMetricLabels | undefined> {
  const run = await getRun(db, rolloutId);
  return run ? { flag: run.flag, environment: run.environment } : undefined;
}
