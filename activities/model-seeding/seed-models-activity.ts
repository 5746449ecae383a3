import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import {
  parseModelFixture,
  ModelFixtureError,
  type ModelCatalogFixture,
} from '../../db/fixtures/model-catalog-schema';
import { seedModelCatalog, SeedingRolledBackError, type SeedingReport } from './model-catalog-seeding';
import { projectRoot } from '../../src/config/load-dotenv';
import type { ActivityDeps } from '../activity-deps';

export const MODEL_FIXTURE = 'db/fixtures/models.json';

export interface SeedModelsInput {
  rolloutId: string;
  /** Fixture path, relative to the repository root or absolute; the catalogue's own unless a test names another. */
  fixture?: string;
}

async function loadFixture(relativePath: string): Promise<ModelCatalogFixture> {
  const file = path.resolve(projectRoot, relativePath);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ModelFixtureError(relativePath, [`cannot read the file: ${(error as Error).message}`]);
  }
  let data: unknown;
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new ModelFixtureError(relativePath, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseModelFixture(data, relativePath);
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
    const fixture = await loadFixture(input.fixture ?? MODEL_FIXTURE);
    const report = await seedModelCatalog(deps.db, input.rolloutId, fixture.models);
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
