import { sql, type Kysely } from 'kysely';
import type { ModelCatalogEntry } from '../../db/fixtures/model-catalog-schema';
import type { Database } from '../../db/schema';
import { classifyModels, modelCatalogChanges, type ModelAction } from './model-catalog-seeding';
import { MODEL_FIXTURE } from './model-fixture';

export interface ModelSeedingPreview {
  fixture: string;
  models: number;
  inserted: string[];
  updated: string[];
  unchanged: number;
}

/**
 * What the seeding would insert, update or leave unchanged: the same diff `seedModelCatalog` writes
 * ({@link modelCatalogChanges}), read without writing.
 */
export async function previewModelSeeding(
  db: Kysely<Database>,
  models: readonly ModelCatalogEntry[],
  fixture: string = MODEL_FIXTURE,
): Promise<ModelSeedingPreview> {
  const changed = await sql<{ provider: string; model_id: string; action: ModelAction }>`
    with ${modelCatalogChanges(models)}
    select provider, model_id, action from changed
  `.execute(db);
  const { inserted, updated, unchanged } = classifyModels(models, changed.rows);
  return { fixture, models: models.length, inserted, updated, unchanged: unchanged.length };
}
