import { ApplicationFailure } from '@temporalio/activity';
import type { RolloutPlan } from '../../src/plan/rollout-plan';
import type { ActivityDeps } from '../activity-deps';
import { inspectionProblems, inspectRollout } from './inspect-rollout';

export interface PreflightReport {
  postgresVersion: string;
  tables: { table: string; rows: number }[];
  unleash: { flagExists: boolean; enabled: boolean; percent: number | null };
}

/**
 * Checks what the rollout depends on before anything changes: PostgreSQL version, the tables to back up,
 * the Unleash project and environment, and that no other strategy on the flag would enable users outside
 * the ramp. The checks are `rollout plan`'s ({@link inspectRollout}); every problem found is a
 * non-retryable failure that names it. Postgres or Unleash not answering is retried.
 */
export async function preflight(deps: ActivityDeps, plan: RolloutPlan): Promise<PreflightReport> {
  const inspection = await inspectRollout(deps, plan);
  const problems = inspectionProblems(inspection);
  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `preflight failed:\n- ${problems.join('\n- ')}`,
      'PreflightFailed',
      { problems },
    );
  }
  const tables = inspection.tables.map((t) => ({ table: t.table, rows: t.rows ?? 0 }));
  const { flagExists, enabled, percent } = inspection.unleash;
  const unleash = { flagExists: flagExists === true, enabled: enabled === true, percent };
  deps.logger.info({ tables, unleash }, 'preflight passed');
  return { postgresVersion: inspection.postgres.version, tables, unleash };
}
