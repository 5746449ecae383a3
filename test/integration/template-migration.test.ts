import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import pino from 'pino';
import type { ActivityDeps } from '../../activities/activity-deps';
import { migrateTemplates } from '../../activities/template-migration/migrate-templates-activity';
import { createDatabase } from '../../db/create-database';
import { claimRun } from '../../db/rollout-runs';
import type { Database } from '../../db/schema';
import {
  MissingBackupError,
  backupTable,
  backupTableName,
  fingerprintTable,
} from '../../activities/backup/table-backups';
import {
  OnInvalidMismatchError,
  TemplateMigrationRolledBackError,
  runTemplateMigration,
  type TemplateMigrationProgress,
} from '../../activities/template-migration/template-migration';
import type { TemplateMigrationTables } from '../../db/template-quarantine-schema';
import { restoreTemplates } from '../../activities/template-migration/template-restore';
import { KNOWN_LLM_PARAM_FIELDS } from '../../src/schemas/generation-params';
import { normalizeLlmPreferences } from '../../activities/template-migration/normalize-llm-preferences';
import { activityAttempt, type ActivityAttempt } from '../helpers/activity-attempt';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

let t: TestDatabase;
let deps: ActivityDeps;

beforeAll(async () => {
  t = await createTestDatabase('template_migration');
  deps = { db: t.db, unleash: undefined as never, logger: pino({ level: 'silent' }) };
});
afterAll(() => t?.drop());
beforeEach(() => sql`truncate prompt_templates restart identity`.execute(t.db));

let counter = 0;
const nextRolloutId = () => `r-tm-${String(++counter).padStart(4, '0')}`;

/** Inserts templates with llm_preferences given as JSON text, stored exactly as written. Returns the ids. */
async function insertTemplates(preferences: readonly string[]): Promise<number[]> {
  if (preferences.length === 0) return [];
  const result = await sql<{ id: number }>`
    insert into prompt_templates (name, body, llm_preferences, updated_at)
    select 'template ' || n, 'Body of template ' || n || ': {{input}}', p::jsonb,
           timestamptz '2025-03-01' + n * interval '1 minute'
    from unnest(${preferences}::text[]) with ordinality as u(p, n)
    order by n
    returning id
  `.execute(t.db);
  return result.rows.map((row) => row.id);
}

/** A running rollout with a verified backup of prompt_templates, as phases 1 and 2 leave it. */
async function backedUpRollout(): Promise<string> {
  const rolloutId = nextRolloutId();
  await claimRun(t.db, {
    rolloutId,
    workflowId: rolloutId,
    flag: `flag-${rolloutId}`,
    project: 'default',
    environment: 'development',
    plan: {},
  });
  await backupTable(t.db, rolloutId, 'prompt_templates');
  return rolloutId;
}

/** Each template's whole row as text: byte-for-byte comparisons. */
async function rowsAsText(): Promise<Map<number, string>> {
  const result = await sql<{ id: number; text: string }>`
    select id, t::text as text from prompt_templates t order by id
  `.execute(t.db);
  return new Map(result.rows.map((row) => [row.id, row.text]));
}

async function preferencesText(id: number): Promise<string> {
  const result = await sql<{ text: string }>`
    select llm_preferences::text as text from prompt_templates where id = ${id}
  `.execute(t.db);
  const row = result.rows[0];
  if (!row) throw new Error(`template ${id} is missing`);
  return row.text;
}

function quarantine(rolloutId: string) {
  return t.db
    .withTables<TemplateMigrationTables>()
    .selectFrom('template_quarantine')
    .selectAll()
    .where('rollout_id', '=', rolloutId)
    .orderBy('template_id')
    .execute();
}

/** Legacy templates of every kind, in a deterministic amount: camelCase, snake_case, conflicts, invalid. */
async function generateTemplates(count: number): Promise<void> {
  await sql`
    insert into prompt_templates (name, body, llm_preferences, updated_at)
    select 'generated ' || g, 'Body ' || g,
           case when g % 100 = 0 then jsonb_build_object('temperature', 9, 'maxTokens', g)
                when g % 10 = 1 then jsonb_build_object('max_tokens', g, 'temperature', 0.5, 'top_p', 0.9)
                when g % 10 = 2 then jsonb_build_object('maxTokens', g, 'max_tokens', g + 1, 'temperature', 0.3)
                when g % 10 = 3 then jsonb_build_object('maxTokens', g, 'teamId', 'team-' || (g % 7))
                else jsonb_build_object('maxTokens', g, 'topP', 0.8, 'temperature', 0.7, 'stopSequences', jsonb_build_array('END'))
           end,
           timestamptz '2025-01-01' + g * interval '1 second'
    from generate_series(1, ${count}) as g
  `.execute(t.db);
}

// ---------------------------------------------------------------------------------------------------------

test('temperature and already-snake fields survive; camelCase fields are renamed with their exact values', async () => {
  const [camel, snake, mixed] = await insertTemplates([
    '{"maxTokens": 256, "topP": 0.90, "temperature": 0.2, "stopSequences": ["END", "\\n\\n"]}',
    '{"temperature": 1.0, "max_tokens": 64, "top_k": 40}',
    '{"temperature": 0, "frequencyPenalty": 1.50, "presence_penalty": -0.5, "toolChoice": {"type": "function", "function": {"name": "lookup"}}}',
  ]);
  const before = await rowsAsText();
  const rolloutId = await backedUpRollout();

  const report = await runTemplateMigration(t.db, { rolloutId });

  expect(await preferencesText(camel!)).toBe(
    '{"top_p": 0.90, "max_tokens": 256, "temperature": 0.2, "stop_sequences": ["END", "\\n\\n"]}',
  );
  // Already snake_case and valid: not even rewritten.
  expect((await rowsAsText()).get(snake!)).toBe(before.get(snake!));
  expect(await preferencesText(mixed!)).toBe(
    '{"temperature": 0, "tool_choice": {"type": "function", "function": {"name": "lookup"}}, "presence_penalty": -0.5, "frequency_penalty": 1.50}',
  );
  expect(report).toMatchObject({ migrated: 2, unchanged: 1, quarantined: 0, conflictsTotal: 0 });
  // Only llm_preferences changes: name, body and updated_at are the backup's.
  const untouchedColumns = await sql<{ differing: number }>`
    select count(*) as differing from prompt_templates l join ${sql.table(backupTableName(rolloutId, 'prompt_templates'))} b using (id)
    where (l.name, l.body, l.updated_at) is distinct from (b.name, b.body, b.updated_at)
  `.execute(t.db);
  expect(untouchedColumns.rows[0]?.differing).toBe(0);
});

test('an invalid template is quarantined with its zod issues and left byte-for-byte untouched, not reset', async () => {
  const [valid, invalid, outOfRange] = await insertTemplates([
    '{"maxTokens": 100}',
    '{"temperature": 7, "maxTokens": 0, "topP": 0.5, "teamNote": "keep me"}',
    '{"thinkingTokens": 500, "reasoningEffort": "extreme"}',
  ]);
  const before = await rowsAsText();
  const rolloutId = await backedUpRollout();

  const report = await runTemplateMigration(t.db, { rolloutId });

  const after = await rowsAsText();
  expect(after.get(invalid!)).toBe(before.get(invalid!));
  expect(after.get(outOfRange!)).toBe(before.get(outOfRange!));
  expect(await preferencesText(valid!)).toBe('{"max_tokens": 100}');
  const records = await quarantine(rolloutId);
  expect(
    records.map(({ template_id, original, issues, action, dropped }) => ({
      template_id,
      original,
      issues,
      action,
      dropped,
    })),
  ).toEqual([
    {
      template_id: invalid,
      original: { temperature: 7, maxTokens: 0, topP: 0.5, teamNote: 'keep me' },
      issues: ['temperature: must be at most 2', 'max_tokens (given as maxTokens): must be at least 1'],
      action: 'left_untouched',
      dropped: null,
    },
    {
      template_id: outOfRange,
      original: { thinkingTokens: 500, reasoningEffort: 'extreme' },
      issues: [
        'reasoning_effort (given as reasoningEffort): must be "minimal", "low", "medium" or "high", got "extreme"',
        'thinking_tokens (given as thinkingTokens): must be at least 1024',
      ],
      action: 'left_untouched',
      dropped: null,
    },
  ]);
  expect(report).toMatchObject({ migrated: 1, quarantined: 2, invalidFieldsDropped: 0 });
  expect(report.quarantine[0]).toEqual({
    templateId: invalid,
    action: 'left_untouched',
    issues: ['temperature: must be at most 2', 'max_tokens (given as maxTokens): must be at least 1'],
    issueCount: 2,
    droppedFields: [],
  });
});

test('malformed shapes (string, list, null, number, boolean) are quarantined without crashing the batch', async () => {
  const ids = await insertTemplates([
    '"{\\"maxTokens\\": 5}"',
    '[{"maxTokens": 5}]',
    'null',
    '42',
    'false',
    '{"maxTokens": 7}',
  ]);
  const before = await rowsAsText();
  const rolloutId = await backedUpRollout();

  const report = await runTemplateMigration(t.db, { rolloutId, onInvalid: 'defaults' });

  const after = await rowsAsText();
  for (const id of ids.slice(0, 5)) expect(after.get(id)).toBe(before.get(id));
  expect(await preferencesText(ids[5]!)).toBe('{"max_tokens": 7}');
  const records = await quarantine(rolloutId);
  expect(records.map((r) => [r.original, r.issues, r.action])).toEqual([
    ['{"maxTokens": 5}', ['llm_preferences: must be an object, got "{"maxTokens": 5}"'], 'left_untouched'],
    [[{ maxTokens: 5 }], ['llm_preferences: must be an object, got a list'], 'left_untouched'],
    [null, ['llm_preferences: must be an object, got null'], 'left_untouched'],
    [42, ['llm_preferences: must be an object, got 42'], 'left_untouched'],
    [false, ['llm_preferences: must be an object, got false'], 'left_untouched'],
  ]);
  expect(report).toMatchObject({ migrated: 1, quarantined: 5 });
});

test('a field in both spellings is resolved to the snake_case value and reported with both values', async () => {
  const [first, second, agreed] = await insertTemplates([
    '{"maxTokens": 256, "max_tokens": 512, "temperature": 0.4}',
    '{"top_p": 0.5, "topP": 0.95, "systemPrompt": "Be brief.", "system_prompt": "Be thorough."}',
    '{"topK": 5, "top_k": 5}',
  ]);
  const rolloutId = await backedUpRollout();

  const report = await runTemplateMigration(t.db, { rolloutId });

  expect(await preferencesText(first!)).toBe('{"max_tokens": 512, "temperature": 0.4}');
  expect(await preferencesText(second!)).toBe('{"top_p": 0.5, "system_prompt": "Be thorough."}');
  expect(await preferencesText(agreed!)).toBe('{"top_k": 5}');
  expect(report.conflictsTotal).toBe(4);
  expect(report.conflicts).toEqual([
    {
      templateId: first,
      field: 'max_tokens',
      kept: { key: 'max_tokens', value: '512' },
      dropped: [{ key: 'maxTokens', value: '256' }],
      agreed: false,
    },
    {
      templateId: second,
      field: 'top_p',
      kept: { key: 'top_p', value: '0.5' },
      dropped: [{ key: 'topP', value: '0.95' }],
      agreed: false,
    },
    {
      templateId: second,
      field: 'system_prompt',
      kept: { key: 'system_prompt', value: '"Be thorough."' },
      dropped: [{ key: 'systemPrompt', value: '"Be brief."' }],
      agreed: false,
    },
    {
      templateId: agreed,
      field: 'top_k',
      kept: { key: 'top_k', value: '5' },
      dropped: [{ key: 'topK', value: '5' }],
      agreed: true,
    },
  ]);
});

test('unknown fields are preserved exactly as spelt and reported, on migrated and unchanged templates', async () => {
  const [migrated, unchanged, quarantined] = await insertTemplates([
    '{"maxTokens": 5, "customerTier": "gold", "routing": {"fallbackModel": "small"}, "big": 12345678901234567890.10}',
    '{"temperature": 0.1, "legacyFlag": true}',
    '{"temperature": 5, "ownerTeam": "search"}',
  ]);
  const rolloutId = await backedUpRollout();

  const report = await runTemplateMigration(t.db, { rolloutId });

  expect(await preferencesText(migrated!)).toBe(
    '{"big": 12345678901234567890.10, "routing": {"fallbackModel": "small"}, "max_tokens": 5, "customerTier": "gold"}',
  );
  expect(report.unknownFieldsTotal).toBe(5);
  expect(report.unknownFields).toEqual([
    { templateId: migrated, field: 'big' },
    { templateId: migrated, field: 'routing' },
    { templateId: migrated, field: 'customerTier' },
    { templateId: unchanged, field: 'legacyFlag' },
    { templateId: quarantined, field: 'ownerTeam' },
  ]);
});

test("onInvalid 'defaults' drops only the invalid fields, keeps the valid ones and still quarantines the template", async () => {
  const [repaired, notAnObject] = await insertTemplates([
    '{"temperature": 7, "maxTokens": 300, "topP": 0, "teamNote": "keep"}',
    '"just a string"',
  ]);
  const rolloutId = await backedUpRollout();

  const report = await runTemplateMigration(t.db, { rolloutId, onInvalid: 'defaults' });

  expect(await preferencesText(repaired!)).toBe('{"teamNote": "keep", "max_tokens": 300}');
  expect(await preferencesText(notAnObject!)).toBe('"just a string"');
  const records = await quarantine(rolloutId);
  expect(
    records.map(({ template_id, original, action, dropped }) => ({ template_id, original, action, dropped })),
  ).toEqual([
    {
      template_id: repaired,
      original: { temperature: 7, maxTokens: 300, topP: 0, teamNote: 'keep' },
      action: 'invalid_fields_dropped',
      // In the stored key order (jsonb: shorter keys first).
      dropped: [
        {
          field: 'top_p',
          keys: ['topP'],
          issues: ['top_p (given as topP): must be greater than 0 (use temperature 0 for greedy decoding)'],
        },
        { field: 'temperature', keys: ['temperature'], issues: ['temperature: must be at most 2'] },
      ],
    },
    { template_id: notAnObject, original: 'just a string', action: 'left_untouched', dropped: null },
  ]);
  expect(report).toMatchObject({
    onInvalid: 'defaults',
    migrated: 1,
    quarantined: 2,
    invalidFieldsDropped: 1,
  });
  expect(report.quarantine[0]?.droppedFields).toEqual(['top_p', 'temperature']);

  // The mode is the rollout's: a retry cannot switch it.
  await expect(runTemplateMigration(t.db, { rolloutId })).rejects.toBeInstanceOf(OnInvalidMismatchError);
});

test('the activity quarantines by default: defaults only when asked for', async () => {
  const [invalid] = await insertTemplates(['{"temperature": 7, "maxTokens": 3}']);
  const before = await preferencesText(invalid!);
  const rolloutId = await backedUpRollout();

  const report = await attempt(undefined).run(() => migrateTemplates(deps, { rolloutId }));

  expect(report.onInvalid).toBe('quarantine');
  expect(await preferencesText(invalid!)).toBe(before);
  await expect(
    attempt(undefined).run(() => migrateTemplates(deps, { rolloutId, onInvalid: 'reset' as never })),
  ).rejects.toBeInstanceOf(ApplicationFailure);
});

test('a rerun changes nothing: the snake_case form is a fixed point', async () => {
  await generateTemplates(3_000);
  const rolloutId = await backedUpRollout();
  const first = await runTemplateMigration(t.db, { rolloutId, batchSize: 400 });
  const migrated = await fingerprintTable(t.db, 'prompt_templates');
  const ledger = await sql<{ n: number; latest: Date }>`
    select count(*) as n, max(migrated_at) as latest from template_migration_changes where rollout_id = ${rolloutId}
  `.execute(t.db);
  const quarantineBefore = await quarantine(rolloutId);

  const second = await runTemplateMigration(t.db, { rolloutId, batchSize: 400 });

  expect(await fingerprintTable(t.db, 'prompt_templates')).toEqual(migrated);
  expect(second.scanned).toBe(3_000);
  const ledgerAfter = await sql<{ n: number; latest: Date }>`
    select count(*) as n, max(migrated_at) as latest from template_migration_changes where rollout_id = ${rolloutId}
  `.execute(t.db);
  expect(ledgerAfter.rows).toEqual(ledger.rows);
  expect(await quarantine(rolloutId)).toEqual(quarantineBefore);
  // Figures come from the data, so both runs say the same about the rollout.
  expect(second).toMatchObject({
    migrated: first.migrated,
    quarantined: first.quarantined,
    conflictsTotal: first.conflictsTotal,
  });
  expect(first).toMatchObject({
    migrated: 2_670,
    quarantined: 30,
    conflictsTotal: 300,
    unknownFieldsTotal: 300,
  });
  expect(first.unknownFields).toHaveLength(100);
  expect(first.conflicts).toHaveLength(100);
});

test('the SQL rewrite stores exactly what the TypeScript decision says, for arbitrary legacy values', async () => {
  const spelling = KNOWN_LLM_PARAM_FIELDS.flatMap((field) => [
    field,
    field.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()),
  ]);
  const value = fc.oneof(
    fc.integer({ min: -3, max: 3000 }),
    fc.constantFrom(0.5, 1.5, 'auto', 'low', true, null, ['END']),
  );
  const samples = fc.sample(
    fc.dictionary(fc.constantFrom(...spelling, 'team', 'ownerId', 'x-y'), value, { maxKeys: 6 }),
    { numRuns: 400, seed: 20261126 },
  );
  const ids = await insertTemplates(samples.map((sample) => JSON.stringify(sample)));
  const rolloutId = await backedUpRollout();

  await runTemplateMigration(t.db, { rolloutId, onInvalid: 'defaults', batchSize: 97 });

  const stored = await sql<{ id: number; llm_preferences: unknown }>`
    select id, llm_preferences from prompt_templates order by id
  `.execute(t.db);
  const outcomes = new Set<string>();
  stored.rows.forEach((row, index) => {
    expect(row.id).toBe(ids[index]);
    const decision = normalizeLlmPreferences(samples[index], { onInvalid: 'defaults' });
    outcomes.add(decision.status);
    const expected =
      decision.status === 'migrate'
        ? decision.preferences
        : decision.status === 'invalid' && decision.repair
          ? decision.repair.preferences
          : samples[index];
    expect(row.llm_preferences).toEqual(expected);
  });
  expect([...outcomes].sort()).toEqual(['invalid', 'migrate', 'normal']);
});

test('refuses to run without a backup, and after the rollout was rolled back', async () => {
  await insertTemplates(['{"maxTokens": 1}']);
  await expect(runTemplateMigration(t.db, { rolloutId: 'r-tm-nobackup' })).rejects.toBeInstanceOf(
    MissingBackupError,
  );
  const rolloutId = await backedUpRollout();
  await restoreTemplates(t.db, { rolloutId });
  await expect(runTemplateMigration(t.db, { rolloutId })).rejects.toBeInstanceOf(
    TemplateMigrationRolledBackError,
  );
  expect(await preferencesText(1)).toBe('{"maxTokens": 1}');
});

// ---------------------------------------------------------------------------------------------------------
// Resuming

/** One attempt of the activity as a worker runs it (previous heartbeat details, heartbeats, cancel). */
function attempt(heartbeatDetails: unknown, onHeartbeat?: (details: unknown, self: ActivityAttempt) => void) {
  return activityAttempt({ heartbeatDetails, onHeartbeat });
}

test('an attempt stopped mid-phase resumes from its heartbeat cursor and ends where an uninterrupted run ends', async () => {
  await generateTemplates(5_000);
  const rolloutId = await backedUpRollout();
  const input = { rolloutId, batchSize: 300 };

  const first = attempt(undefined, (details, self) => {
    if ((details as TemplateMigrationProgress | undefined)?.totals?.batches === 6) self.cancel();
  });
  await expect(first.run(() => migrateTemplates(deps, input))).rejects.toBeInstanceOf(CancelledFailure);
  const checkpoint = first.heartbeats.at(-1) as TemplateMigrationProgress;
  expect(checkpoint.cursor).toBe(1_800);

  const second = attempt(checkpoint);
  const report = await second.run(() => migrateTemplates(deps, input));
  expect(report.resumedFrom).toBe(1_800);
  expect(second.heartbeats[0]).toEqual(checkpoint);
  // Only the rest was read again.
  expect(report.scanned).toBe(5_000);
  expect(report.batches).toBe(Math.ceil(5_001 / 300));
  const resumed = await fingerprintTable(t.db, 'prompt_templates');
  const resumedReport = report;

  await sql`truncate prompt_templates restart identity`.execute(t.db);
  await generateTemplates(5_000);
  const clean = await runTemplateMigration(t.db, { rolloutId: await backedUpRollout(), batchSize: 300 });
  expect(await fingerprintTable(t.db, 'prompt_templates')).toEqual(resumed);
  expect(clean).toMatchObject({
    migrated: resumedReport.migrated,
    unchanged: resumedReport.unchanged,
    quarantined: resumedReport.quarantined,
    conflictsTotal: resumedReport.conflictsTotal,
    unknownFieldsTotal: resumedReport.unknownFieldsTotal,
  });
});

test('a crash after a commit but before its heartbeat: the batches run again and apply nothing twice', async () => {
  await generateTemplates(2_000);
  const rolloutId = await backedUpRollout();
  const checkpoints: TemplateMigrationProgress[] = [];
  const full = await runTemplateMigration(t.db, {
    rolloutId,
    batchSize: 250,
    onProgress: (progress) => checkpoints.push(progress),
  });
  const done = await fingerprintTable(t.db, 'prompt_templates');
  // The last heartbeat the server kept was from batch 3; batches 4..8 had committed.
  const stale = checkpoints[2]!;

  const again = await runTemplateMigration(t.db, { rolloutId, batchSize: 250, resume: stale });

  expect(await fingerprintTable(t.db, 'prompt_templates')).toEqual(done);
  expect(again.scanned).toBe(2_000);
  // Nothing written twice; the ledger-based figures and the re-detected unknown fields are still exact.
  expect(again).toMatchObject({
    migrated: full.migrated,
    quarantined: full.quarantined,
    conflictsTotal: full.conflictsTotal,
    unknownFieldsTotal: full.unknownFieldsTotal,
  });
  const written = await sql<{ n: number }>`
    select count(*) as n from template_migration_changes where rollout_id = ${rolloutId}
  `.execute(t.db);
  expect(written.rows[0]?.n).toBe(full.migrated);
});

test('garbage heartbeat details start from the beginning instead of failing', async () => {
  await generateTemplates(100);
  const rolloutId = await backedUpRollout();
  const report = await attempt({ cursor: 'x' }).run(() => migrateTemplates(deps, { rolloutId }));
  expect(report.resumedFrom).toBeNull();
  expect(report.scanned).toBe(100);
});

// ---------------------------------------------------------------------------------------------------------
// Concurrent writers

test('application writes during the migration are never overwritten by a decision about older content', async () => {
  await generateTemplates(20_000);
  const rolloutId = await backedUpRollout();
  // A second pool: the writer is another application, with its own connections.
  const writerDb: Kysely<Database> = createDatabase(t.url, {
    maxConnections: 2,
    applicationName: 'test-writer',
  });
  const lastWritten = new Map<number, number>();
  let stop = false;
  const writer = (async () => {
    for (let n = 1; !stop; n++) {
      const id = 1 + ((n * 7_919) % 20_000);
      // Alternates camelCase and snake_case writes, the way old and new services would.
      const prefs = n % 2 === 0 ? { maxTokens: n, temperature: 0.5 } : { max_tokens: n, temperature: 0.5 };
      await sql`update prompt_templates set llm_preferences = ${JSON.stringify(prefs)}::jsonb, updated_at = now()
                where id = ${id}`.execute(writerDb);
      lastWritten.set(id, n);
    }
  })();
  try {
    const report = await runTemplateMigration(t.db, { rolloutId, batchSize: 200 });
    stop = true;
    await writer;
    expect(lastWritten.size).toBeGreaterThan(100);
    const rows = await sql<{ id: number; llm_preferences: Record<string, unknown> }>`
      select id, llm_preferences from prompt_templates where id = any(${[...lastWritten.keys()]}::bigint[])
    `.execute(t.db);
    for (const row of rows.rows) {
      const n = lastWritten.get(row.id);
      // The writer's last value is there: as written (the sweep had passed), or migrated.
      const value = row.llm_preferences.max_tokens ?? row.llm_preferences.maxTokens;
      expect([row.id, value]).toEqual([row.id, n]);
    }
    expect(report.scanned).toBe(20_000);
  } finally {
    stop = true;
    await writer.catch(() => undefined);
    await writerDb.destroy();
  }
});

test('a row a writer changes between the read and the write is read and decided again, never overwritten', async () => {
  const ids = await insertTemplates(['{"maxTokens": 1}', '{"maxTokens": 2}', '{"temperature": 9}']);
  const rolloutId = await backedUpRollout();
  const writerDb = createDatabase(t.url, { maxConnections: 1, applicationName: 'test-racer' });
  try {
    let commit: () => void = () => undefined;
    const committed = new Promise<void>((resolve) => (commit = resolve));
    const locked = new Promise<void>((resolveLocked) => {
      // Holds an uncommitted write to templates 2 and 3 while the batch reads them, commits while it writes.
      void writerDb.transaction().execute(async (trx) => {
        await sql`update prompt_templates set llm_preferences = '{"maxTokens": 222, "topK": 5}' where id = ${ids[1]!}`.execute(
          trx,
        );
        await sql`update prompt_templates set llm_preferences = '{"temperature": 1}' where id = ${ids[2]!}`.execute(
          trx,
        );
        resolveLocked();
        await committed;
      });
    });
    await locked;
    const migration = runTemplateMigration(t.db, { rolloutId });
    await new Promise((resolve) => setTimeout(resolve, 300));
    commit();
    const report = await migration;

    expect(report.raceRetries).toBe(2);
    expect(await preferencesText(ids[0]!)).toBe('{"max_tokens": 1}');
    expect(await preferencesText(ids[1]!)).toBe('{"top_k": 5, "max_tokens": 222}');
    // It was invalid when read; the writer fixed it meanwhile, so it is not quarantined.
    expect(await preferencesText(ids[2]!)).toBe('{"temperature": 1}');
    expect(report).toMatchObject({ migrated: 2, quarantined: 0 });
  } finally {
    await writerDb.destroy();
  }
});
