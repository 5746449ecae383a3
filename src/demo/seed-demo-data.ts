import { sql, type Kysely } from 'kysely';
import { NORMALIZATION_BYPASS_SETTING } from '../../activities/key-migration/key-migration';
import type { Database, NewRuntimeConfigRow } from '../../db/schema';

/**
 * Legacy-shaped demo data: camelCase keys, duplicates across spellings (global and per user) and camelCase
 * template preferences. Seeds only an empty database, so rerunning the demo never piles up rows.
 */
export async function seedDemoData(
  db: Kysely<Database>,
): Promise<{ seeded: boolean; configRows: number; templates: number }> {
  const existing = await db
    .selectFrom('runtime_config')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  if (Number(existing.n) > 0) {
    const templates = await db
      .selectFrom('prompt_templates')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { seeded: false, configRows: Number(existing.n), templates: Number(templates.n) };
  }
  const rows: NewRuntimeConfigRow[] = [
    {
      key: 'maxTokens',
      value: '1024',
      value_type: 'number',
      user_id: null,
      updated_at: '2026-01-10T10:00:00Z',
    },
    {
      key: 'max_tokens',
      value: '2048',
      value_type: 'number',
      user_id: null,
      updated_at: '2026-03-01T10:00:00Z',
    },
    { key: 'topP', value: '0.9', value_type: 'number', user_id: null },
    { key: 'defaultModel', value: 'gpt-4o', value_type: 'string', user_id: null },
    { key: 'streamResponses', value: 'true', value_type: 'boolean', user_id: null },
    { key: 'URLPath', value: '/v1/chat', value_type: 'string', user_id: null },
    { key: 'HTTPRequestTimeout', value: '30', value_type: 'number', user_id: null },
    { key: 'temperature', value: '0.7', value_type: 'number', user_id: 'alice' },
    {
      key: 'maxTokens',
      value: '512',
      value_type: 'number',
      user_id: 'alice',
      updated_at: '2026-02-01T09:00:00Z',
    },
    {
      key: 'MaxTokens',
      value: '768',
      value_type: 'number',
      user_id: 'alice',
      updated_at: '2026-02-15T09:00:00Z',
    },
    { key: 'llm.topK', value: '40', value_type: 'number', user_id: 'bob' },
  ];
  // Legacy data predates the write-normalization trigger (migration 004), which would merge these spellings.
  await db.transaction().execute(async (trx) => {
    await sql`select set_config(${NORMALIZATION_BYPASS_SETTING}, 'on', true)`.execute(trx);
    await trx.insertInto('runtime_config').values(rows).execute();
  });
  await db
    .insertInto('prompt_templates')
    .values([
      {
        name: 'support-answer',
        body: 'Answer the customer: {{question}}',
        llm_preferences: JSON.stringify({ maxTokens: 400, temperature: 0.3, topP: 0.9 }),
      },
      {
        name: 'summarize',
        body: 'Summarize: {{text}}',
        llm_preferences: JSON.stringify({ max_tokens: 200, stopSequences: ['\n\n'] }),
      },
      {
        name: 'broken',
        body: 'Creative: {{topic}}',
        llm_preferences: JSON.stringify({ temperature: 7, maxTokens: -1 }),
      },
    ])
    .execute();
  return { seeded: true, configRows: rows.length, templates: 3 };
}
