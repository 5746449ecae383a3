import { sql, type Kysely, type Transaction } from 'kysely';
import { normalizeLlmPreferences } from './normalize-llm-preferences';
import type { Database } from '../../db/schema';

export interface TemplateMigrationPreview {
  templates: number;
  toMigrate: number;
  alreadyNormal: number;
  invalid: number;
  conflicts: number;
  unknownFields: number;
  /** The first invalid templates with their issues. */
  invalidTemplates: { templateId: number; issues: string[] }[];
}

/**
 * What the template migration would do, for the plan preview (SPEC §5 phase 1): reads every template in
 * pages, changes nothing.
 *
 * @example
 * // Three templates: { maxTokens: 256 }, { temperature: 0.2 } and { temperature: 7 }.
 * const preview = await previewTemplateMigration(db);
 * // { templates: 3, toMigrate: 1, alreadyNormal: 1, invalid: 1, conflicts: 0, unknownFields: 0,
 * //   invalidTemplates: [{ templateId: 3, issues: ['temperature: must be at most 2'] }] }
 */
export async function previewTemplateMigration(
  db: Kysely<Database> | Transaction<Database>,
  options: { listLimit?: number; pageSize?: number } = {},
): Promise<TemplateMigrationPreview> {
  const listLimit = options.listLimit ?? 100;
  const pageSize = options.pageSize ?? 10_000;
  const preview: TemplateMigrationPreview = {
    templates: 0,
    toMigrate: 0,
    alreadyNormal: 0,
    invalid: 0,
    conflicts: 0,
    unknownFields: 0,
    invalidTemplates: [],
  };
  for (let cursor = 0; ;) {
    const page = await sql<{ id: number; llm_preferences: unknown }>`
      select id, llm_preferences from prompt_templates where id > ${cursor} order by id limit ${pageSize}
    `.execute(db);
    for (const row of page.rows) {
      const result = normalizeLlmPreferences(row.llm_preferences);
      preview.templates++;
      preview.unknownFields += result.unknownFields.length;
      if (result.status === 'normal') preview.alreadyNormal++;
      else if (result.status === 'migrate') {
        preview.toMigrate++;
        preview.conflicts += result.conflicts.length;
      } else {
        preview.invalid++;
        if (preview.invalidTemplates.length < listLimit) {
          preview.invalidTemplates.push({ templateId: row.id, issues: result.issues });
        }
      }
    }
    const last = page.rows.at(-1);
    if (!last || page.rows.length < pageSize) break;
    cursor = last.id;
  }
  return preview;
}
