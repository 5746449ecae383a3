import { ApplicationFailure } from '@temporalio/activity';
import { ModelFixtureError } from '../../db/fixtures/model-catalog-schema';
import { seedModelCatalog, SeedingRolledBackError, type SeedingReport } from './model-catalog-seeding';
import { loadModelFixture, MODEL_FIXTURE } from './model-fixture';
import type { ActivityDeps } from '../activity-deps';
import { rowsMigratedCounter } from '../metrics/rows-migrated';

export interface SeedModelsInput {
  rolloutId: string;
  /** Fixture path, relative to the repository root or absolute; the catalogue's own unless a test names another. */
  fixture?: string;
}

/**
 * SPEC §5 phase 5: upserts the model catalogue from the fixture and reports inserted / updated / unchanged.
 * An invalid fixture, or a rollout whose seeding was already rolled back, fails for good: retrying cannot
 * fix either. Lock timeouts and lost connections are retried by Temporal; the seeding is idempotent.
 *
 * @example
 * const report = await seedModels(deps, { rolloutId: 'r-20261126-ab12' });
 */
export async function seedModels(deps: ActivityDeps, input: SeedModelsInput): Promise<SeedingReport> {
  try {
    const models = await loadModelFixture(input.fixture ?? MODEL_FIXTURE);
    const report = await seedModelCatalog(deps.db, input.rolloutId, models);
    const counted = await rowsMigratedCounter(deps.db, input.rolloutId, 'model_catalog');
    counted(report.inserted.length + report.updated.length);
    deps.logger.info(
      {
        rolloutId: input.rolloutId,
        inserted: report.inserted.length,
        updated: report.updated.length,
        unchanged: report.unchanged.length,
      },
      'model catalogue seeded',
    );
    return report;
  } catch (error) {
    if (error instanceof ModelFixtureError) {
      throw ApplicationFailure.nonRetryable(error.message, error.name, { problems: error.problems });
    }
    if (error instanceof SeedingRolledBackError)
      throw ApplicationFailure.nonRetryable(error.message, error.name);
    throw error;
  }
}
