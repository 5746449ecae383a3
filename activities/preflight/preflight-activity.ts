import { ApplicationFailure } from '@temporalio/activity';
import { sql } from 'kysely';
import { tableExists } from '../backup/table-backups';
import { HttpError } from '../../src/http/fetch-json';
import type { RolloutPlan } from '../../src/plan/rollout-plan';
import type { ActivityDeps } from '../activity-deps';

export const MIN_POSTGRES_MAJOR = 15;

export interface PreflightReport {
  postgresVersion: string;
  tables: { table: string; rows: number }[];
  unleash: { flagExists: boolean; enabled: boolean; percent: number | null };
}

/**
 * Checks what the rollout depends on before anything changes: PostgreSQL version, the tables to back up,
 * the Unleash project and environment, and that no other strategy on the flag would enable users outside
 * the ramp. Every problem found is a non-retryable failure that names it.
 */
export async function preflight(deps: ActivityDeps, plan: RolloutPlan): Promise<PreflightReport> {
  const problems: string[] = [];
  const version = await sql<{ server_version_num: string; server_version: string }>`
    select current_setting('server_version_num') as server_version_num, current_setting('server_version') as server_version
  `.execute(deps.db);
  const versionRow = version.rows[0];
  const major = Math.floor(Number(versionRow?.server_version_num ?? 0) / 10_000);
  if (major < MIN_POSTGRES_MAJOR)
    problems.push(`PostgreSQL ${versionRow?.server_version} is older than ${MIN_POSTGRES_MAJOR}`);

  const tables: PreflightReport['tables'] = [];
  for (const table of plan.backup.tables) {
    if (!(await tableExists(deps.db, table))) {
      problems.push(`table ${table} does not exist (are the migrations applied?)`);
      continue;
    }
    const counted = await sql<{
      rows: number;
    }>`select count(*)::bigint as rows from ${sql.table(table)}`.execute(deps.db);
    tables.push({ table, rows: counted.rows[0]?.rows ?? 0 });
  }

  const target = { project: plan.unleash.project, environment: plan.unleash.environment, flag: plan.flag };
  let unleash: PreflightReport['unleash'] = { flagExists: false, enabled: false, percent: null };
  // A missing project is a plan error; Unleash being unreachable is not, so that one is retried.
  const environments = await deps.unleash.projectEnvironments(target.project).catch((error: unknown) => {
    if (!(error instanceof HttpError && error.status === 404)) throw error;
    problems.push(`Unleash project ${target.project} does not exist`);
    return undefined;
  });
  if (environments && !environments.includes(target.environment)) {
    problems.push(
      `environment ${target.environment} is not enabled in Unleash project ${target.project} (has: ${environments.join(', ')})`,
    );
  } else if (environments) {
    const feature = await deps.unleash.featureEnvironment(target);
    if (feature) {
      const ours = await deps.unleash.readRollout(target).catch(() => undefined);
      const others = feature.strategies.filter((s) => s.id !== ours?.strategyId && !s.disabled);
      if (others.length > 0) {
        problems.push(
          `flag ${target.flag} has ${others.length} other active strateg${others.length > 1 ? 'ies' : 'y'} in ${target.environment} (${others.map((s) => s.title || s.name).join(', ')}) that would enable users outside the ramp; remove or disable them first`,
        );
      }
      unleash = { flagExists: true, enabled: feature.enabled, percent: ours ? ours.percent : null };
    }
  }

  if (problems.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `preflight failed:\n- ${problems.join('\n- ')}`,
      'PreflightFailed',
      { problems },
    );
  }
  deps.logger.info({ tables, unleash }, 'preflight passed');
  return { postgresVersion: versionRow?.server_version ?? 'unknown', tables, unleash };
}
