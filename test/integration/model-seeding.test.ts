import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { sql, type Kysely } from 'kysely';
import pino from 'pino';
import type { ActivityDeps } from '../../activities/activity-deps';
import { rollbackModelSeeding as rollbackActivity } from '../../activities/model-seeding/rollback-model-seeding-activity';
import { loadModelFixture } from '../../activities/model-seeding/model-fixture';
import { seedModels } from '../../activities/model-seeding/seed-models-activity';
import { modelKey, type ModelCatalogEntry } from '../../db/fixtures/model-catalog-schema';
import { createDatabase } from '../../db/create-database';
import { createDatabaseIfMissing, dropDatabase } from '../../db/database-admin';
import { migrateToLatest } from '../../db/migrate';
import {
  rollbackModelSeeding,
  seedModelCatalog,
  SeedingRolledBackError,
} from '../../activities/model-seeding/model-catalog-seeding';
import type { ModelSeedingTables } from '../../db/model-seeding-schema';
import { claimRun } from '../../db/rollout-runs';
import type { Database } from '../../db/schema';
import type { UnleashAdminClient } from '../../src/unleash/unleash-admin-client';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

let t: TestDatabase;
let models: ModelCatalogEntry[];
let runCount = 0;

beforeAll(async () => {
  t = await createTestDatabase('model_seeding');
  models = await loadModelFixture();
});
afterAll(() => t?.drop());
beforeEach(() => t.db.deleteFrom('model_catalog').execute());

/** A claimed rollout of its own for each test: the ledger references rollout_runs. */
async function newRollout(): Promise<string> {
  runCount += 1;
  const rolloutId = `r-seed-${runCount}`;
  await claimRun(t.db, {
    rolloutId,
    workflowId: `rollout-${rolloutId}`,
    flag: `seed-flag-${runCount}`,
    project: 'default',
    environment: 'development',
    plan: {},
  });
  return rolloutId;
}

/** Every row and column, timestamps at full precision: "the same state" means equal snapshots. */
async function catalogue(db: Kysely<Database> = t.db): Promise<Record<string, unknown>[]> {
  const result = await sql<{ row: Record<string, unknown> }>`
    select to_jsonb(m) as row from model_catalog m order by provider, model_id
  `.execute(db);
  return result.rows.map((r) => r.row);
}

async function insertRow(model: ModelCatalogEntry, updatedAt = '2024-01-02T03:04:05.123456Z'): Promise<void> {
  await t.db
    .insertInto('model_catalog')
    .values({
      ...model,
      capabilities: JSON.stringify(model.capabilities),
      updated_at: updatedAt,
    })
    .execute();
}

function fixtureModel(key: string): ModelCatalogEntry {
  const model = models.find((m) => modelKey(m) === key);
  if (!model) throw new Error(`${key} is not in the fixture`);
  return model;
}

const EXTRA: ModelCatalogEntry = {
  provider: 'openai',
  model_id: 'gpt-3.5-turbo-0613',
  display_name: 'GPT-3.5 Turbo (0613)',
  context_window: 4_096,
  max_output_tokens: 4_096,
  capabilities: ['chat', 'tools'],
  deprecated_on: '2024-09-13',
};

/** Two stale rows, two current ones and one the fixture does not know; returns their keys. */
async function seedPriorState() {
  const stale = [fixtureModel('openai/gpt-4o'), fixtureModel('google/gemini-2.5-pro')];
  const current = [fixtureModel('anthropic/claude-sonnet-4-20250514'), fixtureModel('openai/o3')];
  await insertRow({ ...stale[0]!, context_window: 8_192, max_output_tokens: 4_096, display_name: 'gpt-4o' });
  // Same values, capabilities in another order: the fixture's order is the one stored.
  await insertRow({ ...stale[1]!, capabilities: [...stale[1]!.capabilities].reverse() });
  for (const model of current) await insertRow(model);
  await insertRow(EXTRA);
  return { stale: stale.map(modelKey), current: current.map(modelKey), extra: modelKey(EXTRA) };
}

const ledger = (db: Kysely<Database>) => db.withTables<ModelSeedingTables>();

describe('model catalogue seeding', () => {
  it('is not part of a migration: a freshly migrated database has an empty catalogue (SPEC §10)', async () => {
    const url = new URL(t.url);
    url.pathname = `${url.pathname}_fresh`;
    await createDatabaseIfMissing(url.toString());
    const fresh = createDatabase(url.toString(), { maxConnections: 1 });
    try {
      await migrateToLatest(fresh);
      await expect(catalogue(fresh)).resolves.toEqual([]);
      await expect(ledger(fresh).selectFrom('model_seedings').selectAll().execute()).resolves.toEqual([]);
    } finally {
      await fresh.destroy();
      await dropDatabase(url.toString());
    }
  });

  it('inserts every model into an empty catalogue', async () => {
    const rolloutId = await newRollout();
    const report = await seedModelCatalog(t.db, rolloutId, models);
    const keys = models.map(modelKey);
    expect(report).toEqual({
      inserted: keys,
      updated: [],
      unchanged: [],
      recorded: { inserted: [...keys].sort(), updated: [] },
    });
    const rows = await t.db.selectFrom('model_catalog').selectAll().execute();
    expect(rows).toHaveLength(models.length);
    const gpt4o = rows.find((r) => r.provider === 'openai' && r.model_id === 'gpt-4o');
    expect(gpt4o).toMatchObject({
      display_name: 'GPT-4o',
      context_window: 128_000,
      max_output_tokens: 16_384,
      capabilities: fixtureModel('openai/gpt-4o').capabilities,
    });
  });

  it('updates stale rows, leaves current and unknown rows alone, reruns as all unchanged, rolls back exactly', async () => {
    const prior = await seedPriorState();
    const before = await catalogue();
    const rolloutId = await newRollout();

    const first = await seedModelCatalog(t.db, rolloutId, models);
    expect(first.updated).toEqual(prior.stale);
    expect(first.unchanged).toEqual(models.map(modelKey).filter((k) => prior.current.includes(k)));
    expect(first.inserted).toHaveLength(models.length - 4);
    expect(first.inserted).not.toContain(prior.extra);
    const afterFirst = await catalogue();
    const extraRow = (rows: Record<string, unknown>[]) =>
      rows.find((r) => modelKey(r as { provider: string; model_id: string }) === prior.extra);
    expect(extraRow(afterFirst)).toEqual(extraRow(before));
    expect(afterFirst).toHaveLength(models.length + 1);

    const second = await seedModelCatalog(t.db, rolloutId, models);
    expect(second).toEqual({
      inserted: [],
      updated: [],
      unchanged: models.map(modelKey),
      recorded: first.recorded,
    });
    await expect(catalogue()).resolves.toEqual(afterFirst);

    const rollback = await rollbackModelSeeding(t.db, rolloutId);
    expect(rollback).toEqual({
      removed: [...first.inserted].sort(),
      restored: [...prior.stale].sort(),
      kept: [],
      alreadyAbsent: [],
    });
    await expect(catalogue()).resolves.toEqual(before);

    // Twice is a no-op that returns the same report.
    await expect(rollbackModelSeeding(t.db, rolloutId)).resolves.toEqual(rollback);
    await expect(catalogue()).resolves.toEqual(before);
  });

  it('keeps the first previous row when a rerun of the same rollout writes again', async () => {
    await insertRow({ ...fixtureModel('openai/gpt-4o'), context_window: 8_192, max_output_tokens: 4_096 });
    const before = await catalogue();
    const rolloutId = await newRollout();
    await seedModelCatalog(t.db, rolloutId, models);
    // The fixture changed between attempts (or an attempt was lost): the rerun updates the row again.
    const edited = models.map((m) =>
      modelKey(m) === 'openai/gpt-4o' ? { ...m, display_name: 'GPT-4o v2' } : m,
    );
    const rerun = await seedModelCatalog(t.db, rolloutId, edited);
    expect(rerun.updated).toEqual(['openai/gpt-4o']);
    expect(rerun.recorded.updated).toEqual(['openai/gpt-4o']);

    const recorded = await ledger(t.db)
      .selectFrom('model_seeding_changes')
      .select(['previous', 'seeded'])
      .where('rollout_id', '=', rolloutId)
      .where('model_id', '=', 'gpt-4o')
      .executeTakeFirstOrThrow();
    expect(recorded.previous).toEqual(before[0]);
    expect(recorded.seeded).toMatchObject({ display_name: 'GPT-4o v2' });

    await rollbackModelSeeding(t.db, rolloutId);
    await expect(catalogue()).resolves.toEqual(before);
  });

  it('keeps and reports rows an operator changed or deleted after the seeding', async () => {
    await seedPriorState();
    const rolloutId = await newRollout();
    await seedModelCatalog(t.db, rolloutId, models);

    const where = (key: string) => {
      const [provider, ...rest] = key.split('/');
      return { provider: provider ?? '', model_id: rest.join('/') };
    };
    const update = (key: string, set: Record<string, unknown>) =>
      t.db
        .updateTable('model_catalog')
        .set(set)
        .where('provider', '=', where(key).provider)
        .where('model_id', '=', where(key).model_id)
        .execute();
    const remove = (key: string) =>
      t.db
        .deleteFrom('model_catalog')
        .where('provider', '=', where(key).provider)
        .where('model_id', '=', where(key).model_id)
        .execute();
    // Inserted by the seeding: one edited, one only touched (updated_at), one deleted.
    await update('openai/gpt-4.1', { context_window: 1_000_000 });
    await update('openai/gpt-5', { updated_at: new Date() });
    await remove('openai/gpt-4.1-nano');
    // Updated by the seeding: one edited, one deleted.
    await update('openai/gpt-4o', { display_name: 'GPT-4o (operator)' });
    await remove('google/gemini-2.5-pro');
    const operatorRows = (await catalogue()).filter((r) =>
      ['openai/gpt-4.1', 'openai/gpt-5', 'openai/gpt-4o'].includes(
        modelKey(r as { provider: string; model_id: string }),
      ),
    );

    const report = await rollbackModelSeeding(t.db, rolloutId);
    expect(report.kept).toEqual([
      { key: 'openai/gpt-4.1', reason: 'changed after seeding' },
      { key: 'openai/gpt-4o', reason: 'changed after seeding' },
      { key: 'openai/gpt-5', reason: 'changed after seeding' },
      { key: 'google/gemini-2.5-pro', reason: 'deleted after seeding' },
    ]);
    expect(report.alreadyAbsent).toEqual(['openai/gpt-4.1-nano']);
    expect(report.restored).toEqual([]);
    expect(report.removed).toHaveLength(models.length - 4 - 3);

    // What is left: the rows that were there before, minus the deleted one, plus the operator's rows.
    const after = await catalogue();
    expect(after.map((r) => modelKey(r as { provider: string; model_id: string })).sort()).toEqual(
      [
        'anthropic/claude-sonnet-4-20250514',
        'openai/o3',
        EXTRA.provider + '/' + EXTRA.model_id,
        'openai/gpt-4.1',
        'openai/gpt-5',
        'openai/gpt-4o',
      ].sort(),
    );
    expect(after).toEqual(expect.arrayContaining(operatorRows));

    await expect(rollbackModelSeeding(t.db, rolloutId)).resolves.toEqual(report);
    await expect(catalogue()).resolves.toEqual(after);
  });

  it('refuses to seed after its rollback, even a rollback that ran before any seeding', async () => {
    const seededThenRolledBack = await newRollout();
    await seedModelCatalog(t.db, seededThenRolledBack, models.slice(0, 2));
    await rollbackModelSeeding(t.db, seededThenRolledBack);
    await expect(seedModelCatalog(t.db, seededThenRolledBack, models)).rejects.toThrow(
      SeedingRolledBackError,
    );

    // A seeding attempt on a lost worker that commits after the compensation must not re-seed.
    const neverSeeded = await newRollout();
    await expect(rollbackModelSeeding(t.db, neverSeeded)).resolves.toEqual({
      removed: [],
      restored: [],
      kept: [],
      alreadyAbsent: [],
    });
    await expect(seedModelCatalog(t.db, neverSeeded, models)).rejects.toThrow(SeedingRolledBackError);
    await expect(catalogue()).resolves.toEqual([]);
  });

  it('serialises concurrent attempts of the same rollout: each row is written and recorded once', async () => {
    const rolloutId = await newRollout();
    const reports = await Promise.all([1, 2, 3].map(() => seedModelCatalog(t.db, rolloutId, models)));
    const inserted = reports.flatMap((r) => r.inserted);
    expect(inserted.sort()).toEqual(models.map(modelKey).sort());
    await rollbackModelSeeding(t.db, rolloutId);
    await expect(catalogue()).resolves.toEqual([]);
  });
});

describe('seeding activities', () => {
  const deps = (): ActivityDeps => ({
    db: t.db,
    logger: pino({ level: 'silent' }),
    // Seeding never talks to Unleash.
    unleash: {} as UnleashAdminClient,
  });
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'model-fixture-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('seeds from db/fixtures/models.json and rolls back', async () => {
    const rolloutId = await newRollout();
    const report = await seedModels(deps(), { rolloutId });
    expect(report.inserted).toEqual(models.map(modelKey));
    const rollback = await rollbackActivity(deps(), { rolloutId });
    expect(rollback.removed).toHaveLength(models.length);
    await expect(catalogue()).resolves.toEqual([]);
  });

  it('fails for good, naming the problems, on an invalid fixture, and changes nothing', async () => {
    const file = path.join(dir, 'bad-models.json');
    const bad = {
      as_of: '2025-10-15',
      models: [
        { ...models[0], max_output_tokens: 10_000_000 },
        { ...models[1], provider: 'mistral' },
      ],
    };
    await writeFile(file, JSON.stringify(bad));
    const rolloutId = await newRollout();
    const failure = await seedModels(deps(), { rolloutId, fixture: file }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    const app = failure as ApplicationFailure;
    expect(app.nonRetryable).toBe(true);
    expect(app.type).toBe('ModelFixtureError');
    expect(app.message).toContain(
      'models[0].max_output_tokens: max_output_tokens must not exceed context_window',
    );
    expect(app.message).toContain('models[1].provider');
    expect(app.details).toEqual([{ problems: expect.any(Array) }]);
    await expect(catalogue()).resolves.toEqual([]);

    await writeFile(file, '{ "as_of": ');
    const syntax = await seedModels(deps(), { rolloutId, fixture: file }).catch((error: unknown) => error);
    expect(syntax).toMatchObject({ nonRetryable: true, message: expect.stringContaining('not valid JSON') });
  });

  it('fails for good when the rollout was already rolled back', async () => {
    const rolloutId = await newRollout();
    await rollbackActivity(deps(), { rolloutId });
    await expect(seedModels(deps(), { rolloutId })).rejects.toMatchObject({
      nonRetryable: true,
      type: 'SeedingRolledBackError',
    });
  });
});
