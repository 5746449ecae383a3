import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema';
import { HttpError } from '../../src/http/fetch-json';
import type { RolloutPlan } from '../../src/plan/rollout-plan';
import { ROLLOUT_STRATEGY_TITLE, type UnleashAdminClient } from '../../src/unleash/unleash-admin-client';
import { tableExists } from '../backup/table-backups';
import type { ModelCatalogEntry } from '../../db/fixtures/model-catalog-schema';
import { loadModelFixture, MODEL_FIXTURE } from '../model-seeding/model-fixture';

/** The oldest PostgreSQL the rollout runs on (`UNIQUE NULLS NOT DISTINCT` needs 15). */
export const MIN_POSTGRES_MAJOR = 15;

export interface PostgresInspection {
  version: string;
  major: number;
  supported: boolean;
}

export interface TableInspection {
  table: string;
  exists: boolean;
  /** null when the table does not exist. */
  rows: number | null;
}

export interface UnleashInspection {
  project: string;
  environment: string;
  flag: string;
  /** null: not asked, because Unleash could not be read (see `error`) or an earlier check already failed. */
  projectExists: boolean | null;
  environments: string[];
  environmentExists: boolean | null;
  flagExists: boolean | null;
  /** The flag is on in the environment. */
  enabled: boolean | null;
  /** Our `flexibleRollout` strategy's current percent; null when the flag has none yet. */
  percent: number | null;
  /** Active strategies other than ours: each could enable users outside the ramp. */
  foreignStrategies: { id: string; name: string; title: string | null }[];
  /** Why Unleash could not be read; only a caller that reports instead of retrying sets it. */
  error: string | null;
}

/** What SPEC §5 phase 1 checks before anything changes: the preflight and `rollout plan` both read this. */
export interface RolloutInspection {
  postgres: PostgresInspection;
  tables: TableInspection[];
  unleash: UnleashInspection;
  /** Why the model fixture cannot be seeded (unreadable, invalid), or null (fine, or seeding is off). */
  modelFixtureProblem: string | null;
}

/** The model fixture the seeding phase would upsert, or the reason it cannot; nothing when seeding is off. */
export async function inspectModelFixture(
  plan: RolloutPlan,
  fixture: string = MODEL_FIXTURE,
): Promise<{ models: ModelCatalogEntry[] | null; problem: string | null }> {
  if (!plan.phases.seedModels) return { models: null, problem: null };
  try {
    return { models: await loadModelFixture(fixture), problem: null };
  } catch (error) {
    return { models: null, problem: (error as Error).message };
  }
}

/**
 * Server version and each backed-up table's existence and row count, in plan order. Reads only, one
 * statement after another, so a caller may pass its (read-only) transaction.
 */
export async function inspectDatabase(
  db: Kysely<Database>,
  plan: RolloutPlan,
): Promise<Pick<RolloutInspection, 'postgres' | 'tables'>> {
  const version = await sql<{ num: string; version: string }>`
    select current_setting('server_version_num') as num, current_setting('server_version') as version
  `.execute(db);
  const major = Math.floor(Number(version.rows[0]?.num ?? 0) / 10_000);
  const postgres = {
    version: version.rows[0]?.version ?? 'unknown',
    major,
    supported: major >= MIN_POSTGRES_MAJOR,
  };

  const tables: TableInspection[] = [];
  for (const table of plan.backup.tables) {
    if (!(await tableExists(db, table))) {
      tables.push({ table, exists: false, rows: null });
      continue;
    }
    const counted = await sql<{ rows: number }>`
      select count(*)::bigint as rows from ${sql.table(table)}
    `.execute(db);
    tables.push({ table, exists: true, rows: Number(counted.rows[0]?.rows ?? 0) });
  }
  return { postgres, tables };
}

/** The Unleash part with nothing known yet: what a reader that could not ask reports. */
export function uninspectedUnleash(plan: RolloutPlan): UnleashInspection {
  return {
    project: plan.unleash.project,
    environment: plan.unleash.environment,
    flag: plan.flag,
    projectExists: null,
    environments: [],
    environmentExists: null,
    flagExists: null,
    enabled: null,
    percent: null,
    foreignStrategies: [],
    error: null,
  };
}

/**
 * Reads the project, the environment and the flag's strategies; only GETs. A missing project is a finding;
 * any other failure (Unleash down, timed out, refusing the token) throws, so the preflight is retried and
 * the preview reports it.
 */
export async function inspectUnleash(
  unleash: UnleashAdminClient,
  plan: RolloutPlan,
): Promise<UnleashInspection> {
  const found = uninspectedUnleash(plan);
  const target = { project: found.project, environment: found.environment, flag: found.flag };
  try {
    found.environments = await unleash.projectEnvironments(target.project);
    found.projectExists = true;
  } catch (error) {
    if (!(error instanceof HttpError && error.status === 404)) throw error;
    found.projectExists = false;
    return found;
  }
  found.environmentExists = found.environments.includes(target.environment);
  if (!found.environmentExists) return found;
  const feature = await unleash.featureEnvironment(target);
  found.flagExists = feature !== undefined;
  if (!feature) return found;
  found.enabled = feature.enabled;
  const ours = feature.strategies.find((s) => s.title === ROLLOUT_STRATEGY_TITLE);
  if (ours) {
    const percent = Number(ours.parameters.rollout);
    found.percent = Number.isFinite(percent) ? percent : null;
  }
  found.foreignStrategies = feature.strategies
    .filter((s) => s.id !== ours?.id && !s.disabled)
    .map((s) => ({ id: s.id, name: s.name, title: s.title ?? null }));
  return found;
}

/**
 * Everything phase 1 checks, read concurrently from Postgres and Unleash. Throws when either does not
 * answer; what it finds wrong is for {@link inspectionProblems} to name.
 *
 * @example
 * const inspection = await inspectRollout({ db, unleash }, plan);
 * const problems = inspectionProblems(inspection); // [] when the rollout may start
 */
export async function inspectRollout(
  deps: { db: Kysely<Database>; unleash: UnleashAdminClient },
  plan: RolloutPlan,
): Promise<RolloutInspection> {
  const [database, unleash, fixture] = await Promise.all([
    inspectDatabase(deps.db, plan),
    inspectUnleash(deps.unleash, plan),
    inspectModelFixture(plan),
  ]);
  return { ...database, unleash, modelFixtureProblem: fixture.problem };
}

/** The problem of a table the rollout needs and the database lacks. */
export function missingTableProblem(table: string): string {
  return `table ${table} does not exist (are the migrations applied?)`;
}

function unleashProblems(u: UnleashInspection): string[] {
  if (u.error !== null) return [`cannot read Unleash: ${u.error}`];
  if (u.projectExists === false) return [`Unleash project ${u.project} does not exist`];
  if (u.environmentExists === false)
    return [
      `environment ${u.environment} is not enabled in Unleash project ${u.project} (has: ${u.environments.join(', ') || 'none'})`,
    ];
  if (u.foreignStrategies.length > 0) {
    const n = u.foreignStrategies.length;
    return [
      `flag ${u.flag} has ${n} other active strateg${n > 1 ? 'ies' : 'y'} in ${u.environment} (${u.foreignStrategies.map((s) => s.title || s.name).join(', ')}) that would enable users outside the ramp; remove or disable them first`,
    ];
  }
  return [];
}

/**
 * Each finding that makes a rollout fail, as one operator-facing line: the preflight fails with these
 * lines and `rollout plan` lists the same lines as blocking.
 */
export function inspectionProblems(inspection: RolloutInspection): string[] {
  const problems: string[] = [];
  const { postgres } = inspection;
  if (!postgres.supported)
    problems.push(`PostgreSQL ${postgres.version} is older than ${MIN_POSTGRES_MAJOR}`);
  for (const t of inspection.tables) if (!t.exists) problems.push(missingTableProblem(t.table));
  problems.push(...unleashProblems(inspection.unleash));
  if (inspection.modelFixtureProblem !== null) problems.push(inspection.modelFixtureProblem);
  return problems;
}
