import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ModelFixtureError,
  parseModelFixture,
  type ModelCatalogEntry,
} from '../../db/fixtures/model-catalog-schema';
import { projectRoot } from '../../src/config/load-dotenv';

/** The catalogue fixture the seeding phase upserts (SPEC §5 phase 5), relative to the repository root. */
export const MODEL_FIXTURE = 'db/fixtures/models.json';

/**
 * Reads and validates a model fixture, relative to the repository root or absolute; the seeding and its
 * preview both load through here. Every failure is a {@link ModelFixtureError} naming the file.
 *
 * @example
 * const models = await loadModelFixture(); // the entries of db/fixtures/models.json, in file order
 */
export async function loadModelFixture(relativePath: string = MODEL_FIXTURE): Promise<ModelCatalogEntry[]> {
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
