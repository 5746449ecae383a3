import { ApplicationFailure } from '@temporalio/activity';
import { Command } from 'commander';
import { sql } from 'kysely';
import pino from 'pino';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fingerprintTable, type TableFingerprint } from '../../activities/backup/table-backups';
import { registerPlanCommand } from '../../src/cli/plan-command';
import { readEnv } from '../../src/config/env';
import { loadPlanFile } from '../../src/plan/load-plan-file';
import { PlanError } from '../../src/plan/rollout-plan';
import { loadModelFixture } from '../../activities/model-seeding/model-fixture';
import { preflight } from '../../activities/preflight/preflight-activity';
import type { RolloutPreview } from '../../src/preview/rollout-preview';
import { UnleashAdminClient } from '../../src/unleash/unleash-admin-client';
import { insertLegacyRows } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { uniqueSuffix } from '../helpers/test-temporal';

interface CliRun {
  out: string;
  err: string;
  error: unknown;
  exitCode: number;
}

const SECRET = 'sk-live-DO-NOT-PRINT-0123456789';

let database: TestDatabase;
let planDir: string;
let unleash: UnleashAdminClient;
const suffix = uniqueSuffix();
const emptyFlag = `plan-preview-${suffix}`;
const rampedFlag = `plan-preview-ramped-${suffix}`;

/** Runs `rollout plan <args>` in-process against the test database, capturing output and the exit code. */
async function runPlan(args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const output = { writeOut: (s: string) => out.push(s), writeErr: (s: string) => err.push(s) };
  const program = new Command('rollout').exitOverride().configureOutput(output);
  registerPlanCommand(program);
  for (const command of program.commands) command.exitOverride().configureOutput(output);
  const savedUrl = process.env.DATABASE_URL;
  const savedExitCode = process.exitCode;
  process.env.DATABASE_URL = database.url;
  process.exitCode = undefined;
  let error: unknown;
  let exitCode = 0;
  try {
    await program.parseAsync(['node', 'rollout', 'plan', ...args]);
  } catch (e) {
    error = e;
  } finally {
    exitCode = Number(process.exitCode ?? 0);
    process.exitCode = savedExitCode;
    if (savedUrl === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = savedUrl;
  }
  return { out: out.join(''), err: err.join(''), error, exitCode };
}

function writePlan(name: string, text: string): string {
  const file = path.join(planDir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Every table of the test database with its fingerprint: any write, new table or dropped table shows. */
async function snapshot(): Promise<Record<string, TableFingerprint>> {
  const tables = await sql<{ name: string }>`
    select tablename as name from pg_tables where schemaname = 'public' order by tablename
  `.execute(database.db);
  const result: Record<string, TableFingerprint> = {};
  for (const { name } of tables.rows) result[name] = await fingerprintTable(database.db, name);
  return result;
}

beforeAll(async () => {
  planDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-plan-test-'));
  database = await createTestDatabase('rollout_plan');
  const env = readEnv();
  unleash = new UnleashAdminClient({ url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN });

  await insertLegacyRows(database.db, [
    { id: 1, key: 'maxTokens', userId: null, value: SECRET, valueType: 'secret', updatedAt: '2025-01-01Z' },
    { id: 2, key: 'max_tokens', userId: null, value: '2048', updatedAt: '2025-02-01Z' },
    { id: 3, key: 'maxTokens', userId: 'alice', value: '512', updatedAt: '2025-03-01Z' },
    { id: 4, key: 'max_tokens', userId: 'alice', value: '256', updatedAt: '2025-01-01Z' },
    { id: 5, key: 'topP', userId: 'bob', value: '0.9', updatedAt: '2025-01-01Z' },
    { id: 6, key: 'temperature', userId: null, value: '0.7', updatedAt: '2025-01-01Z' },
    { id: 7, key: 'top_k', userId: 'carol', value: '40', updatedAt: '2025-01-01Z' },
    { id: 8, key: 'top_k', userId: 'carol', value: '50', updatedAt: '2025-01-01Z' },
  ]);
  await sql`
    insert into prompt_templates (name, body, llm_preferences)
    values ('camel', 'b', ${JSON.stringify({ maxTokens: 100, temperature: 0.5 })}::jsonb),
           ('snake', 'b', ${JSON.stringify({ max_tokens: 100 })}::jsonb),
           ('invalid', 'b', ${JSON.stringify({ temperature: 5 })}::jsonb)
  `.execute(database.db);

  // The catalogue: one fixture model as in the fixture (unchanged), one with another figure (updated).
  const [same, changed] = await loadModelFixture();
  await sql`truncate model_catalog`.execute(database.db);
  for (const [model, window] of [
    [same!, same!.context_window],
    [changed!, changed!.context_window + 1],
  ] as const) {
    await database.db
      .insertInto('model_catalog')
      .values({
        provider: model.provider,
        model_id: model.model_id,
        display_name: model.display_name,
        context_window: window,
        max_output_tokens: model.max_output_tokens,
        capabilities: JSON.stringify(model.capabilities),
        deprecated_on: model.deprecated_on,
      })
      .execute();
  }

  // A flag already ramped by us to 10 %, plus a strategy someone added by hand.
  const target = { project: 'default', environment: 'development', flag: rampedFlag };
  await unleash.setRolloutPercent(target, 10);
  const response = await fetch(
    new URL(
      `/api/admin/projects/default/features/${rampedFlag}/environments/development/strategies`,
      env.UNLEASH_URL,
    ),
    {
      method: 'POST',
      headers: { authorization: env.UNLEASH_ADMIN_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'default', title: 'hand-added', constraints: [], parameters: {} }),
    },
  );
  expect(response.ok).toBe(true);
});

afterAll(async () => {
  await database?.drop();
  fs.rmSync(planDir, { recursive: true, force: true });
});

describe('rollout plan', () => {
  it('previews every phase in a read-only transaction, changes nothing and prints no value', async () => {
    const file = writePlan(
      'plan.yaml',
      `flag: ${emptyFlag}\nunleash:\n  project: default\n  environment: development\n`,
    );
    const before = await snapshot();

    const json = await runPlan([file, '--json']);
    expect(json.error).toBeUndefined();
    expect(json.exitCode).toBe(0);
    const preview = JSON.parse(json.out) as RolloutPreview;

    expect(preview.postgres.major).toBeGreaterThanOrEqual(15);
    expect(preview.postgres.supported).toBe(true);
    expect(preview.tables).toEqual([
      { table: 'runtime_config', exists: true, rows: 8 },
      { table: 'prompt_templates', exists: true, rows: 3 },
      { table: 'model_catalog', exists: true, rows: 2 },
    ]);

    expect(preview.keys).toMatchObject({
      rows: 8,
      keysToRename: 3,
      distinctKeysToRename: 2,
      renameExamples: [
        { from: 'maxTokens', to: 'max_tokens', rows: 2 },
        { from: 'topP', to: 'top_p', rows: 1 },
      ],
      duplicateGroups: 3,
      rowsToDiscard: 3,
      // Most recently updated wins; a tie goes to the highest id; the NULL user ids form one group.
      discardExamples: [
        { id: 4, key: 'max_tokens', group: { key: 'max_tokens', userId: 'alice' }, winnerId: 3 },
        { id: 1, key: 'maxTokens', group: { key: 'max_tokens', userId: null }, winnerId: 2 },
        { id: 7, key: 'top_k', group: { key: 'top_k', userId: 'carol' }, winnerId: 8 },
      ],
      constraintExists: false,
      uniqueIndex: 'missing',
    });

    expect(preview.templates).toMatchObject({
      templates: 3,
      toMigrate: 1,
      alreadyNormal: 1,
      invalid: 1,
      onInvalid: 'quarantine',
    });
    expect(preview.templates?.invalidTemplates).toHaveLength(1);
    expect(preview.templates?.invalidTemplates[0]?.issues.join(' ')).toMatch(/temperature/);

    const fixture = await loadModelFixture();
    expect(preview.models?.models).toBe(fixture.length);
    expect(preview.models?.updated).toEqual([`${fixture[1]!.provider}/${fixture[1]!.model_id}`]);
    expect(preview.models?.unchanged).toBe(1);
    expect(preview.models?.inserted).toHaveLength(fixture.length - 2);

    expect(preview.unleash).toMatchObject({
      projectExists: true,
      environmentExists: true,
      flagExists: false,
      percent: null,
      foreignStrategies: [],
      error: null,
    });
    expect(preview.blocking).toEqual([]);

    const human = await runPlan([file]);
    expect(human.error).toBeUndefined();
    expect(human.exitCode).toBe(0);
    expect(human.out).toContain('maxTokens → max_tokens');
    expect(human.out).toMatch(/duplicate groups\s+3/);
    expect(human.out).toMatch(/#1 maxTokens\s+group max_tokens \/ \(global\)\s+→ #2 wins/);
    expect(human.out).toContain('ready: no blocking problem found');

    for (const run of [json, human]) {
      expect(run.out).not.toContain(SECRET);
      expect(run.out).not.toContain('2048');
    }
    // Same rows, same checksums, no backup, discarded-rows or quarantine table, no rollout row.
    expect(await snapshot()).toEqual(before);
    const runs = await sql<{ n: number }>`select count(*)::int as n from rollout_runs`.execute(database.db);
    expect(runs.rows[0]?.n).toBe(0);
    expect(Object.keys(before).some((name) => /^(backup|discarded)_/.test(name))).toBe(false);
  });

  it('reports our current percent and a foreign strategy, which blocks: exit 1 after printing', async () => {
    const file = writePlan(
      'ramped.yaml',
      `flag: ${rampedFlag}\nunleash:\n  environment: development\nphases:\n  seedModels: false\n`,
    );
    const run = await runPlan([file, '--json']);
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(1);
    const preview = JSON.parse(run.out) as RolloutPreview;
    expect(preview.models).toBeNull();
    expect(preview.unleash).toMatchObject({ flagExists: true, enabled: true, percent: 10 });
    expect(preview.unleash.foreignStrategies).toEqual([
      expect.objectContaining({ name: 'default', title: 'hand-added' }),
    ]);
    expect(preview.blocking).toEqual([expect.stringMatching(/1 other active strategy.*hand-added/)]);
  });

  it('an unknown Unleash project is blocking: the report names it and the command exits 1', async () => {
    const file = writePlan(
      'unknown-project.yaml',
      `flag: ${emptyFlag}\nunleash:\n  project: no-such-project-${suffix}\n  environment: development\n`,
    );
    const before = await snapshot();
    const run = await runPlan([file]);
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(1);
    expect(run.out).toContain('BLOCKING');
    expect(run.out).toContain(`Unleash project no-such-project-${suffix} does not exist`);
    // The data preview is still printed.
    expect(run.out).toContain('maxTokens → max_tokens');
    expect(await snapshot()).toEqual(before);
  });

  it('an invalid plan rejects with the PlanError before anything is read', async () => {
    const file = writePlan(
      'bad.yaml',
      `flag: ${emptyFlag}\nunleash:\n  environment: development\nstages: [{ percent: 50 }]\n`,
    );
    const run = await runPlan([file]);
    expect(run.error).toBeInstanceOf(PlanError);
    expect((run.error as PlanError).problems.join('\n')).toMatch(/100 percent/);
    expect(run.out).toBe('');
  });
});

describe('the preflight and rollout plan', () => {
  /** The preflight activity on the same database and Unleash as the command. */
  async function runPreflight(file: string): Promise<unknown> {
    const deps = { db: database.db, unleash, logger: pino({ level: 'silent' }) };
    return preflight(deps, await loadPlanFile(file)).catch((error: unknown) => error);
  }

  it.each([
    ['a foreign strategy', `flag: ${rampedFlag}\nunleash:\n  environment: development\n`],
    [
      'an unknown project',
      `flag: ${emptyFlag}\nunleash:\n  project: no-such-project-${suffix}\n  environment: development\n`,
    ],
    [
      'an environment the project lacks',
      `flag: ${emptyFlag}\nunleash:\n  environment: no-such-env-${suffix}\n`,
    ],
  ])('fail on %s with the very problems the preview lists as blocking', async (_, text) => {
    const file = writePlan('agree.yaml', text);
    const run = await runPlan([file, '--json']);
    expect(run.exitCode).toBe(1);
    const { blocking } = JSON.parse(run.out) as RolloutPreview;
    expect(blocking).toHaveLength(1);

    const failure = await runPreflight(file);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'PreflightFailed', nonRetryable: true });
    expect((failure as ApplicationFailure).details).toEqual([{ problems: blocking }]);
    expect((failure as ApplicationFailure).message).toBe(`preflight failed:\n- ${blocking[0]}`);
  });

  it('pass together, and the preflight reports what the preview found', async () => {
    const file = writePlan(
      'agree-ready.yaml',
      `flag: ${emptyFlag}\nunleash:\n  project: default\n  environment: development\n`,
    );
    const run = await runPlan([file, '--json']);
    const preview = JSON.parse(run.out) as RolloutPreview;
    expect(preview.blocking).toEqual([]);

    await expect(runPreflight(file)).resolves.toEqual({
      postgresVersion: preview.postgres.version,
      tables: preview.tables.map((t) => ({ table: t.table, rows: t.rows })),
      unleash: { flagExists: false, enabled: false, percent: null },
    });
  });
});
