import { sql, type Kysely } from 'kysely';
import {
  previewKeyMigration,
  type KeyMigrationPreview,
} from '../../activities/key-migration/key-migration-preview';
import type { Database } from '../../db/schema';
import { tableExists } from '../../activities/backup/table-backups';
import {
  previewTemplateMigration,
  type TemplateMigrationPreview,
} from '../../activities/template-migration/template-migration';
import type { TemplateMigrationTables } from '../../db/template-quarantine-schema';
import { HttpError } from '../http/fetch-json';
import type { RolloutPlan } from '../plan/rollout-plan';
import {
  ROLLOUT_STRATEGY_TITLE,
  type UnleashAdminClient,
  type UnleashStrategy,
} from '../unleash/unleash-admin-client';
import {
  previewModelSeeding,
  type ModelSeedingPreview,
} from '../../activities/model-seeding/model-catalog-preview';
import { loadModelFixture, MODEL_FIXTURE } from '../../activities/model-seeding/model-fixture';

/** The oldest PostgreSQL the rollout runs on (`UNIQUE NULLS NOT DISTINCT` needs 15); same as the preflight. */
export const MIN_POSTGRES_MAJOR = 15;

export interface UnleashPreview {
  project: string;
  environment: string;
  flag: string;
  /** null: Unleash could not be asked (see `error`). */
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
  error: string | null;
}

export interface TemplatePreview extends TemplateMigrationPreview {
  onInvalid: RolloutPlan['templates']['onInvalid'];
}

/** Everything `rollout plan` reports: what a rollout of the plan would find and do. Ids, keys and counts only. */
export interface RolloutPreview {
  plan: {
    source: string;
    flag: string;
    project: string;
    environment: string;
    phases: RolloutPlan['phases'];
    stages: { percent: number; soakMs: number; approval: boolean }[];
  };
  postgres: { version: string; major: number; supported: boolean };
  tables: { table: string; exists: boolean; rows: number | null }[];
  /** null when the plan skips the phase. */
  keys: KeyMigrationPreview | null;
  templates: TemplatePreview | null;
  models: ModelSeedingPreview | null;
  unleash: UnleashPreview;
  /** Problems that would make `rollout start` fail; empty when the plan can run. */
  blocking: string[];
}

export interface PreviewDeps {
  db: Kysely<Database>;
  unleash: UnleashAdminClient;
}

export interface PreviewOptions {
  /** Upper bound of each preview statement (default 60 s). */
  statementTimeoutMs?: number;
  /** How long a statement may wait for a lock, e.g. behind a running migration's DDL (default 5 s). */
  lockTimeoutMs?: number;
  /** Examples listed per item (default 20). */
  exampleLimit?: number;
  /** Model fixture, relative to the repository root (default db/fixtures/models.json). */
  modelFixture?: string;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function previewUnleash(unleash: UnleashAdminClient, plan: RolloutPlan): Promise<UnleashPreview> {
  const target = { project: plan.unleash.project, environment: plan.unleash.environment, flag: plan.flag };
  const preview: UnleashPreview = {
    ...target,
    projectExists: null,
    environments: [],
    environmentExists: null,
    flagExists: null,
    enabled: null,
    percent: null,
    foreignStrategies: [],
    error: null,
  };
  try {
    try {
      preview.environments = await unleash.projectEnvironments(target.project);
      preview.projectExists = true;
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 404)) throw error;
      preview.projectExists = false;
      return preview;
    }
    preview.environmentExists = preview.environments.includes(target.environment);
    if (!preview.environmentExists) return preview;
    const feature = await unleash.featureEnvironment(target);
    preview.flagExists = feature !== undefined;
    if (!feature) return preview;
    preview.enabled = feature.enabled;
    const ours: UnleashStrategy | undefined = feature.strategies.find(
      (s) => s.title === ROLLOUT_STRATEGY_TITLE,
    );
    if (ours) {
      const percent = Number(ours.parameters.rollout);
      preview.percent = Number.isFinite(percent) ? percent : null;
    }
    preview.foreignStrategies = feature.strategies
      .filter((s) => s.id !== ours?.id && !s.disabled)
      .map((s) => ({ id: s.id, name: s.name, title: s.title ?? null }));
  } catch (error) {
    preview.error = errorMessage(error);
  }
  return preview;
}

function unleashProblems(u: UnleashPreview): string[] {
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
 * SPEC §5 phase 1 as a dry run: everything the preflight checks plus what each data phase would change,
 * read in one REPEATABLE READ, READ ONLY transaction (Postgres refuses any write in it, so the preview
 * provably changes nothing) with statement and lock timeouts; Unleash is only read (GETs with timeouts).
 *
 * @example
 * const preview = await previewRollout({ db, unleash }, plan, 'plan.yaml');
 * if (preview.blocking.length > 0) process.exitCode = 1;
 */
export async function previewRollout(
  deps: PreviewDeps,
  plan: RolloutPlan,
  source: string,
  options: PreviewOptions = {},
): Promise<RolloutPreview> {
  const statementTimeoutMs = options.statementTimeoutMs ?? 60_000;
  const lockTimeoutMs = options.lockTimeoutMs ?? 5_000;
  const exampleLimit = options.exampleLimit ?? 20;
  const blocking: string[] = [];

  let models: Awaited<ReturnType<typeof loadModelFixture>> | undefined;
  if (plan.phases.seedModels) {
    try {
      models = await loadModelFixture(options.modelFixture ?? MODEL_FIXTURE);
    } catch (error) {
      blocking.push(errorMessage(error));
    }
  }

  const database = deps.db
    .withTables<TemplateMigrationTables>()
    .transaction()
    .execute(async (trx) => {
      // First statement of the transaction: from here on Postgres rejects every write.
      await sql`set transaction isolation level repeatable read, read only`.execute(trx);
      await sql`
        select set_config('statement_timeout', ${`${statementTimeoutMs}ms`}, true),
               set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)
      `.execute(trx);
      const version = await sql<{ num: string; version: string }>`
        select current_setting('server_version_num') as num, current_setting('server_version') as version
      `.execute(trx);
      const major = Math.floor(Number(version.rows[0]?.num ?? 0) / 10_000);
      const postgres = {
        version: version.rows[0]?.version ?? 'unknown',
        major,
        supported: major >= MIN_POSTGRES_MAJOR,
      };

      const tables: RolloutPreview['tables'] = [];
      const present = new Set<string>();
      for (const table of plan.backup.tables) {
        if (!(await tableExists(trx, table))) {
          tables.push({ table, exists: false, rows: null });
          continue;
        }
        present.add(table);
        const counted = await sql<{ rows: number }>`
          select count(*)::bigint as rows from ${sql.table(table)}
        `.execute(trx);
        tables.push({ table, exists: true, rows: Number(counted.rows[0]?.rows ?? 0) });
      }

      const keys =
        plan.phases.migrateKeys && (await tableExists(trx, 'runtime_config'))
          ? await previewKeyMigration(trx, { exampleLimit })
          : null;
      const templates =
        plan.phases.migrateTemplates && (await tableExists(trx, 'prompt_templates'))
          ? {
              ...(await previewTemplateMigration(trx, { listLimit: exampleLimit })),
              onInvalid: plan.templates.onInvalid,
            }
          : null;
      const seeding =
        models && (await tableExists(trx, 'model_catalog')) ? await previewModelSeeding(trx, models) : null;
      return { postgres, tables, keys, templates, models: seeding };
    });

  const [db, unleash] = await Promise.all([database, previewUnleash(deps.unleash, plan)]);

  if (!db.postgres.supported)
    blocking.unshift(`PostgreSQL ${db.postgres.version} is older than ${MIN_POSTGRES_MAJOR}`);
  for (const t of db.tables)
    if (!t.exists) blocking.push(`table ${t.table} does not exist (are the migrations applied?)`);
  if (plan.phases.seedModels && models && !db.tables.some((t) => t.table === 'model_catalog') && !db.models)
    blocking.push('table model_catalog does not exist (are the migrations applied?)');
  blocking.push(...unleashProblems(unleash));

  return {
    plan: {
      source,
      flag: plan.flag,
      project: plan.unleash.project,
      environment: plan.unleash.environment,
      phases: plan.phases,
      stages: plan.stages.map((s) => ({ percent: s.percent, soakMs: s.soak, approval: s.approval })),
    },
    ...db,
    unleash,
    blocking,
  };
}
