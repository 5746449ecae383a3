import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql, type Kysely, type Transaction } from 'kysely';
import {
  ModelFixtureError,
  modelKey,
  parseModelFixture,
  type ModelCatalogEntry,
} from '../../db/fixtures/model-catalog-schema';
import type { Database } from '../../db/schema';
import { projectRoot } from '../../src/config/load-dotenv';

type Db = Kysely<Database> | Transaction<Database>;

/** The catalogue fixture the seeding phase upserts (same file as activities/seed-models.ts). */
export const MODEL_FIXTURE_PATH = 'db/fixtures/models.json';

export interface ModelSeedingPreview {
  fixture: string;
  models: number;
  inserted: string[];
  updated: string[];
  unchanged: number;
}

/** Reads and validates the fixture; every failure is a {@link ModelFixtureError} naming the file. */
export async function loadModelFixture(
  relativePath: string = MODEL_FIXTURE_PATH,
): Promise<ModelCatalogEntry[]> {
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
  return parseModelFixture(data, relativePath).models;
}

/**
 * What the seeding would insert, update or leave unchanged, by the same comparison as `seedModelCatalog`
 * (`(provider, model_id)`, then the catalogue columns with `is distinct from`), without writing.
 */
export async function previewModelSeeding(
  db: Db,
  models: readonly ModelCatalogEntry[],
  fixture: string = MODEL_FIXTURE_PATH,
): Promise<ModelSeedingPreview> {
  const result = await sql<{ provider: string; model_id: string; is_new: boolean }>`
    with fixture as (
      select *
      from jsonb_to_recordset(${JSON.stringify(models)}::jsonb) as f(
        provider text, model_id text, display_name text, context_window integer,
        max_output_tokens integer, capabilities jsonb, deprecated_on date)
    )
    select f.provider, f.model_id, m.provider is null as is_new
    from fixture f
    left join model_catalog m on m.provider = f.provider and m.model_id = f.model_id
    where m.provider is null
       or (m.display_name, m.context_window, m.max_output_tokens, m.capabilities, m.deprecated_on)
          is distinct from
          (f.display_name, f.context_window, f.max_output_tokens, f.capabilities, f.deprecated_on)
  `.execute(db);
  const actions = new Map(result.rows.map((row) => [modelKey(row), row.is_new ? 'inserted' : 'updated']));
  const keys = models.map(modelKey);
  return {
    fixture,
    models: models.length,
    inserted: keys.filter((key) => actions.get(key) === 'inserted'),
    updated: keys.filter((key) => actions.get(key) === 'updated'),
    unchanged: keys.filter((key) => !actions.has(key)).length,
  };
}
