import { sql, type Kysely } from 'kysely';
import {
  previewKeyMigration,
  type KeyMigrationPreview,
} from '../../activities/key-migration/key-migration-preview';
import { tableExists } from '../../activities/backup/table-backups';
import {
  previewModelSeeding,
  type ModelSeedingPreview,
} from '../../activities/model-seeding/model-catalog-preview';
import {
  inspectDatabase,
  inspectionProblems,
  inspectModelFixture,
  inspectUnleash,
  missingTableProblem,
  uninspectedUnleash,
  type RolloutInspection,
  type UnleashInspection,
} from '../../activities/preflight/inspect-rollout';
import {
  previewTemplateMigration,
  type TemplateMigrationPreview,
} from '../../activities/template-migration/template-migration-preview';
import type { Database } from '../../db/schema';
import type { TemplateMigrationTables } from '../../db/template-quarantine-schema';
import { setLocal } from '../../db/transaction-settings';
import type { RolloutPlan } from '../plan/rollout-plan';
import type { UnleashAdminClient } from '../unleash/unleash-admin-client';
import { errorMessage } from '../logging/error-message';

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
  postgres: RolloutInspection['postgres'];
  tables: RolloutInspection['tables'];
  /** null when the plan skips the phase. */
  keys: KeyMigrationPreview | null;
  templates: TemplatePreview | null;
  models: ModelSeedingPreview | null;
  /** `error` is set when Unleash could not be read. */
  unleash: UnleashInspection;
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

/**
 * SPEC §5 phase 1 as a dry run: the preflight's own inspection ({@link inspectDatabase},
 * {@link inspectUnleash}, {@link inspectionProblems}) plus what each data phase would change,
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

  const fixture = await inspectModelFixture(plan, options.modelFixture);
  const models = fixture.models;

  const database = deps.db
    .withTables<TemplateMigrationTables>()
    .transaction()
    .execute(async (trx) => {
      // First statement of the transaction: from here on Postgres rejects every write.
      await sql`set transaction isolation level repeatable read, read only`.execute(trx);
      await setLocal(trx, {
        statement_timeout: `${statementTimeoutMs}ms`,
        lock_timeout: `${lockTimeoutMs}ms`,
      });
      const inspected = await inspectDatabase(trx, plan);

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
      return { ...inspected, keys, templates, models: seeding };
    });

  // Unleash not answering is reported, not thrown: the preview still shows what the database holds.
  const [db, unleash] = await Promise.all([
    database,
    inspectUnleash(deps.unleash, plan).catch((error: unknown): UnleashInspection => ({
      ...uninspectedUnleash(plan),
      error: errorMessage(error),
    })),
  ]);

  blocking.push(
    ...inspectionProblems({
      postgres: db.postgres,
      tables: db.tables,
      unleash,
      modelFixtureProblem: fixture.problem,
    }),
  );
  if (plan.phases.seedModels && models && !db.tables.some((t) => t.table === 'model_catalog') && !db.models)
    blocking.push(missingTableProblem('model_catalog'));

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
