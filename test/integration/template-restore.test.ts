import { sql } from 'kysely';
import pino from 'pino';
import type { ActivityDeps } from '../../activities/activity-deps';
import { restoreTemplates as restoreActivity } from '../../activities/template-migration/restore-templates-activity';
import { claimRun } from '../../db/rollout-runs';
import { backupTable, fingerprintTable, type BackupResult } from '../../activities/backup/table-backups';
import {
  runTemplateMigration,
  TemplateMigrationRolledBackError,
} from '../../activities/template-migration/template-migration';
import type { TemplateMigrationTables } from '../../db/template-quarantine-schema';
import { restoreTemplates } from '../../activities/template-migration/template-restore';
import { RestoreVerificationError } from '../../activities/shared/restore-verification-error';
import { activityAttempt } from '../helpers/activity-attempt';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('template_restore');
});
afterAll(() => t?.drop());
beforeEach(() => sql`truncate prompt_templates restart identity`.execute(t.db));

let counter = 0;
const nextRolloutId = () => `r-trs-${String(++counter).padStart(4, '0')}`;

async function claim(rolloutId: string): Promise<void> {
  await claimRun(t.db, {
    rolloutId,
    workflowId: rolloutId,
    flag: `flag-${rolloutId}`,
    project: 'default',
    environment: 'development',
    plan: {},
  });
}

/** Legacy templates of every kind: camelCase, snake_case, both spellings, unknown fields, invalid, malformed. */
async function generateTemplates(count: number): Promise<void> {
  await sql`
    insert into prompt_templates (name, body, llm_preferences, updated_at)
    select 'generated ' || g, 'Body ' || g,
           case when g % 100 = 0 then jsonb_build_object('temperature', 9, 'maxTokens', g)
                when g % 100 = 50 then '"not an object"'::jsonb
                when g % 10 = 1 then jsonb_build_object('max_tokens', g, 'temperature', 0.5, 'top_p', 0.9)
                when g % 10 = 2 then jsonb_build_object('maxTokens', g, 'max_tokens', g + 1, 'temperature', 0.3)
                when g % 10 = 3 then jsonb_build_object('maxTokens', g, 'teamId', 'team-' || (g % 7))
                else jsonb_build_object('maxTokens', g, 'topP', 0.80, 'temperature', 1.0)
           end,
           timestamptz '2025-01-01' + g * interval '1 second'
    from generate_series(1, ${count}) as g
  `.execute(t.db);
}

async function rowsAsText(): Promise<Map<number, string>> {
  const result = await sql<{ id: number; text: string }>`
    select id, t::text as text from prompt_templates t order by id
  `.execute(t.db);
  return new Map(result.rows.map((row) => [row.id, row.text]));
}

async function preferencesText(id: number): Promise<string | undefined> {
  const result = await sql<{ text: string }>`
    select llm_preferences::text as text from prompt_templates where id = ${id}
  `.execute(t.db);
  return result.rows[0]?.text;
}

async function backedUp(rolloutId: string): Promise<BackupResult> {
  await claim(rolloutId);
  return backupTable(t.db, rolloutId, 'prompt_templates');
}

test('a rollback after the migration gives back every original row exactly; the checksum equals the backup', async () => {
  await generateTemplates(3_000);
  const before = await rowsAsText();
  const rolloutId = nextRolloutId();
  const backup = await backedUp(rolloutId);
  const migration = await runTemplateMigration(t.db, { rolloutId, batchSize: 500 });
  expect(migration.migrated).toBe(2_640);

  const report = await restoreTemplates(t.db, { rolloutId, batchSize: 700 });

  expect(await rowsAsText()).toEqual(before);
  expect(await fingerprintTable(t.db, 'prompt_templates')).toEqual({
    rowCount: backup.rowCount,
    checksum: backup.checksum,
  });
  expect(report).toMatchObject({
    restored: migration.migrated,
    nothingToDo: false,
    untouchedRows: 3_000,
    untouchedChecksum: backup.checksum,
    quarantineRecords: 60,
    kept: {
      insertedAfterBackup: 0,
      writtenAfterBackup: 0,
      deletedAfterBackup: 0,
      rows: [],
      truncated: false,
    },
  });
});

test("onInvalid 'defaults' repairs are undone too; the quarantine records stay as history", async () => {
  await generateTemplates(500);
  const before = await rowsAsText();
  const rolloutId = nextRolloutId();
  const backup = await backedUp(rolloutId);
  const migration = await runTemplateMigration(t.db, { rolloutId, onInvalid: 'defaults' });
  expect(migration.invalidFieldsDropped).toBe(5);

  const report = await restoreTemplates(t.db, { rolloutId });

  expect(await rowsAsText()).toEqual(before);
  expect(report.untouchedChecksum).toBe(backup.checksum);
  const tdb = t.db.withTables<TemplateMigrationTables>();
  const records = await tdb
    .selectFrom('template_quarantine')
    .select(['template_id', 'action'])
    .where('rollout_id', '=', rolloutId)
    .orderBy('template_id')
    .execute();
  expect(records).toHaveLength(10);
  expect(records.filter((r) => r.action === 'invalid_fields_dropped').map((r) => r.template_id)).toEqual([
    100, 200, 300, 400, 500,
  ]);
  const run = await tdb
    .selectFrom('template_migrations')
    .selectAll()
    .where('rollout_id', '=', rolloutId)
    .executeTakeFirstOrThrow();
  expect(run.on_invalid).toBe('defaults');
  expect(run.rolled_back_at).toBeInstanceOf(Date);
});

test('rows written after the backup are kept as they are and reported; the untouched rows match the backup', async () => {
  await generateTemplates(1_000);
  const rolloutId = nextRolloutId();
  const backup = await backedUp(rolloutId);
  const original = await rowsAsText();

  // After the backup, before the migration reaches them: an update the migration then migrates, and a delete.
  await sql`update prompt_templates set llm_preferences = '{"maxTokens": 4242}' where id = 14`.execute(t.db);
  await sql`delete from prompt_templates where id = 15`.execute(t.db);
  await runTemplateMigration(t.db, { rolloutId, batchSize: 300 });
  // After the migration: an update with a new updated_at, one without (the same content rule catches it),
  // an update of another column only, and inserts in both spellings.
  await sql`update prompt_templates set llm_preferences = '{"max_tokens": 1}', updated_at = now() where id = 24`.execute(
    t.db,
  );
  await sql`update prompt_templates set llm_preferences = '{"max_tokens": 2, "top_p": 0.8}' where id = 25`.execute(
    t.db,
  );
  await sql`update prompt_templates set name = 'renamed by its owner' where id = 26`.execute(t.db);
  await sql`
    insert into prompt_templates (name, body, llm_preferences)
    values ('new camel', 'b', '{"maxTokens": 9}'), ('new snake', 'b', '{"max_tokens": 9}')
  `.execute(t.db);
  const written = await rowsAsText();

  const report = await restoreTemplates(t.db, { rolloutId, batchSize: 250 });

  const after = await rowsAsText();
  for (const id of [14, 24, 25, 26, 1_001, 1_002]) expect([id, after.get(id)]).toEqual([id, written.get(id)]);
  expect(after.has(15)).toBe(false);
  for (const [id, text] of original) {
    if (![14, 15, 24, 25, 26].includes(id)) expect([id, after.get(id)]).toEqual([id, text]);
  }
  expect(report.kept).toEqual({
    insertedAfterBackup: 2,
    writtenAfterBackup: 4,
    deletedAfterBackup: 1,
    rows: [
      { id: 14, reason: 'written-after-backup', name: 'generated 14' },
      { id: 15, reason: 'deleted-after-backup', name: 'generated 15' },
      { id: 24, reason: 'written-after-backup', name: 'generated 24' },
      { id: 25, reason: 'written-after-backup', name: 'generated 25' },
      { id: 26, reason: 'written-after-backup', name: 'renamed by its owner' },
      { id: 1_001, reason: 'inserted-after-backup', name: 'new camel' },
      { id: 1_002, reason: 'inserted-after-backup', name: 'new snake' },
    ],
    truncated: false,
  });
  expect(report.untouchedRows).toBe(995);
  // The checksum of the untouched rows, live, equals the backup's over the same rows.
  const untouched = await sql<{ live: string; backed_up: string }>`
    select coalesce(sum(('x' || left(md5(l::text), 16))::bit(64)::bigint::numeric), 0)::text as live,
           coalesce(sum(('x' || left(md5(b::text), 16))::bit(64)::bigint::numeric), 0)::text as backed_up
    from prompt_templates l join ${sql.table(backup.backupTable)} b using (id)
    where l.id not in (14, 24, 25, 26)
  `.execute(t.db);
  expect(untouched.rows[0]?.live).toBe(untouched.rows[0]?.backed_up);
  expect(report.untouchedChecksum).toBe(untouched.rows[0]?.live);
});

test('restoring twice is a no-op, and the list of kept rows is capped but fully counted', async () => {
  await generateTemplates(400);
  const rolloutId = nextRolloutId();
  await backedUp(rolloutId);
  await runTemplateMigration(t.db, { rolloutId });
  await sql`
    insert into prompt_templates (name, body, llm_preferences)
    select 'late ' || g, 'b', '{"max_tokens": 5}' from generate_series(1, 12) g
  `.execute(t.db);
  const first = await restoreTemplates(t.db, { rolloutId, listLimit: 5 });
  const restored = await rowsAsText();

  const second = await restoreTemplates(t.db, { rolloutId, listLimit: 5 });

  expect(await rowsAsText()).toEqual(restored);
  expect(first.nothingToDo).toBe(false);
  expect(second).toMatchObject({
    restored: 0,
    nothingToDo: true,
    untouchedChecksum: first.untouchedChecksum,
  });
  expect(second.kept).toMatchObject({ insertedAfterBackup: 12, truncated: true });
  expect(second.kept.rows.map((row) => row.id)).toEqual([401, 402, 403, 404, 405]);
});

test('a rollback before the migration ran changes nothing and stops a late migration attempt', async () => {
  await generateTemplates(50);
  const before = await rowsAsText();
  const rolloutId = nextRolloutId();
  await backedUp(rolloutId);

  const report = await restoreTemplates(t.db, { rolloutId });

  expect(report).toMatchObject({ restored: 0, nothingToDo: true, untouchedRows: 50 });
  await expect(runTemplateMigration(t.db, { rolloutId })).rejects.toBeInstanceOf(
    TemplateMigrationRolledBackError,
  );
  expect(await rowsAsText()).toEqual(before);
});

test('a backup that no longer matches its record fails verification instead of restoring from it blindly', async () => {
  await generateTemplates(20);
  const rolloutId = nextRolloutId();
  const backup = await backedUp(rolloutId);
  await runTemplateMigration(t.db, { rolloutId });
  await sql`update ${sql.table(backup.backupTable)} set body = 'tampered' where id = 3`.execute(t.db);

  const failure = await restoreTemplates(t.db, { rolloutId }).catch((error: unknown) => error);

  expect(failure).toBeInstanceOf(RestoreVerificationError);
  expect((failure as RestoreVerificationError).kind).toBe('backup-changed');
});

test('the activity skips a rollout that never took a backup, and restores one that did', async () => {
  const deps: ActivityDeps = { db: t.db, unleash: undefined as never, logger: pino({ level: 'silent' }) };
  const { run } = activityAttempt();
  const unbacked = nextRolloutId();
  await claim(unbacked);
  expect(await run(() => restoreActivity(deps, { rolloutId: unbacked }))).toEqual({
    table: 'prompt_templates',
    skipped: 'no-backup',
  });

  await generateTemplates(30);
  const before = await rowsAsText();
  const rolloutId = nextRolloutId();
  await backedUp(rolloutId);
  await runTemplateMigration(t.db, { rolloutId });
  const result = await run(() => restoreActivity(deps, { rolloutId }));
  expect(result).toMatchObject({ restored: 27 });
  expect(await rowsAsText()).toEqual(before);
  expect(await preferencesText(4)).toBe('{"topP": 0.80, "maxTokens": 4, "temperature": 1.0}');
});
