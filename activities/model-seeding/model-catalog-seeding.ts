import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { modelKey, type ModelCatalogEntry } from '../../db/fixtures/model-catalog-schema';
import type { ModelSeedingTables, SeedingRollbackOutcome } from '../../db/model-seeding-schema';
import type { Database } from '../../db/schema';
import { lockTimeoutSetting, transactionWith } from '../../db/transaction-settings';

type SeedingDatabase = Database & ModelSeedingTables;

/** The rollout's seeding was rolled back; seeding again would undo that rollback behind the operator's back. */
export class SeedingRolledBackError extends Error {
  override name = 'SeedingRolledBackError';
}

export interface SeedingReport {
  /** What this call changed, as `provider/model_id` keys in fixture order. */
  inserted: string[];
  updated: string[];
  unchanged: string[];
  /**
   * Everything this rollout's seeding has changed so far, across attempts: what its rollback would undo. A
   * retry after a crash that followed the commit reports all unchanged, and this still says what happened.
   */
  recorded: { inserted: string[]; updated: string[] };
}

export interface SeedingRollbackReport {
  /** Rows the seeding inserted, now deleted. */
  removed: string[];
  /** Rows the seeding updated, now back to their previous values (including `updated_at`). */
  restored: string[];
  /** Rows written or deleted after the seeding: left as they are, for a person to look at. */
  kept: { key: string; reason: 'changed after seeding' | 'deleted after seeding' }[];
  /** Rows the seeding inserted that someone had already deleted. */
  alreadyAbsent: string[];
}

/**
 * The fixture-vs-catalogue diff as two CTEs: `fixture` (the entries as rows) and `changed`, each entry the
 * catalogue lacks (`action` 'inserted') or holds with other catalogue columns by `is distinct from`
 * ('updated'), with the row found as `previous`. The seeding writes exactly `changed` and its preview
 * reports it, so the two cannot disagree.
 */
export function modelCatalogChanges(models: readonly ModelCatalogEntry[]): RawBuilder<unknown> {
  return sql`
    fixture as (
      select *
      from jsonb_to_recordset(${JSON.stringify(models)}::jsonb) as f(
        provider text, model_id text, display_name text, context_window integer,
        max_output_tokens integer, capabilities jsonb, deprecated_on date)
    ),
    changed as (
      select f.*, case when m.provider is null then 'inserted' else 'updated' end as action,
             to_jsonb(m) as previous
      from fixture f
      left join model_catalog m on m.provider = f.provider and m.model_id = f.model_id
      where m.provider is null
         or (m.display_name, m.context_window, m.max_output_tokens, m.capabilities, m.deprecated_on)
            is distinct from
            (f.display_name, f.context_window, f.max_output_tokens, f.capabilities, f.deprecated_on)
    )
  `;
}

export type ModelAction = 'inserted' | 'updated';

/** The fixture's keys in fixture order, split by what {@link modelCatalogChanges} found for each. */
export function classifyModels(
  models: readonly ModelCatalogEntry[],
  changed: readonly { provider: string; model_id: string; action: ModelAction }[],
): Record<ModelAction | 'unchanged', string[]> {
  const actions = new Map(changed.map((row) => [modelKey(row), row.action]));
  const keys = models.map(modelKey);
  return {
    inserted: keys.filter((key) => actions.get(key) === 'inserted'),
    updated: keys.filter((key) => actions.get(key) === 'updated'),
    unchanged: keys.filter((key) => !actions.has(key)),
  };
}

/**
 * Runs `work` in one transaction that first locks the catalogue. The lock blocks catalogue writes (not
 * reads) while a seeding or rollback runs, and conflicts with itself: what each transaction classifies stays
 * true until it commits, and a seeding attempt still running on a lost worker cannot interleave with the
 * rollback. A lock wait past the timeout fails and is retried.
 */
function withLockedCatalogue<T>(
  db: Kysely<Database>,
  work: (trx: Transaction<SeedingDatabase>) => Promise<T>,
): Promise<T> {
  return transactionWith(db.withTables<ModelSeedingTables>(), lockTimeoutSetting(5_000), async (trx) => {
    await sql`lock table model_catalog in share row exclusive mode`.execute(trx);
    return work(trx);
  });
}

/**
 * This rollout's ledger, read once: returns a lookup of the keys whose ledger row matches one column's value.
 * Keys are sorted here, not by the database: code-point order whatever the database collation is.
 */
async function ledgerKeys(
  trx: Transaction<SeedingDatabase>,
  rolloutId: string,
): Promise<(match: { action: ModelAction } | { rollback_outcome: SeedingRollbackOutcome }) => string[]> {
  const ledger = await trx
    .selectFrom('model_seeding_changes')
    .select(['provider', 'model_id', 'action', 'rollback_outcome'])
    .where('rollout_id', '=', rolloutId)
    .execute();
  return (match) =>
    ledger
      .filter((row) =>
        'action' in match ? row.action === match.action : row.rollback_outcome === match.rollback_outcome,
      )
      .map(modelKey)
      .sort();
}

/**
 * Upserts the model catalogue by `(provider, model_id)` in one transaction and records, per rollout, what it
 * inserted and the previous row of what it updated, so {@link rollbackModelSeeding} can undo exactly that.
 * Idempotent: a rerun writes nothing that already matches and never replaces a recorded previous row.
 *
 * @example
 * const models = await loadModelFixture();
 * const report = await seedModelCatalog(db, 'r-20261126-ab12', models);
 * report.inserted; // into an empty catalogue, in fixture order: ['openai/gpt-5', 'openai/gpt-5-mini', ...]
 */
export async function seedModelCatalog(
  db: Kysely<Database>,
  rolloutId: string,
  models: readonly ModelCatalogEntry[],
): Promise<SeedingReport> {
  return withLockedCatalogue(db, async (trx) => {
    const seeding = await trx
      .selectFrom('model_seedings')
      .select('rolled_back_at')
      .where('rollout_id', '=', rolloutId)
      .executeTakeFirst();
    if (seeding?.rolled_back_at) {
      throw new SeedingRolledBackError(
        `the model seeding of rollout ${rolloutId} was rolled back at ${seeding.rolled_back_at.toISOString()}; start a new rollout to seed again`,
      );
    }
    await trx
      .insertInto('model_seedings')
      .values({ rollout_id: rolloutId, seeded_at: sql<Date>`now()`, rolled_back_at: null })
      .onConflict((oc) => oc.column('rollout_id').doUpdateSet({ seeded_at: sql<Date>`now()` }))
      .execute();

    // One statement: every CTE sees the catalogue as it was before it, so `previous` is the row this
    // rollout found. A ledger row that exists keeps its action and previous row; only `seeded` follows the
    // latest write, which is what a rollback must recognise as its own.
    const written = await sql<{ provider: string; model_id: string; action: ModelAction }>`
      with ${modelCatalogChanges(models)},
      written as (
        insert into model_catalog as m
          (provider, model_id, display_name, context_window, max_output_tokens, capabilities, deprecated_on,
           updated_at)
        select provider, model_id, display_name, context_window, max_output_tokens, capabilities,
               deprecated_on, now()
        from changed
        on conflict (provider, model_id) do update set
          display_name = excluded.display_name,
          context_window = excluded.context_window,
          max_output_tokens = excluded.max_output_tokens,
          capabilities = excluded.capabilities,
          deprecated_on = excluded.deprecated_on,
          updated_at = excluded.updated_at
        returning m.provider, m.model_id, to_jsonb(m) as seeded
      ),
      recorded as (
        insert into model_seeding_changes as l (rollout_id, provider, model_id, action, previous, seeded)
        select ${rolloutId}, w.provider, w.model_id, c.action, c.previous, w.seeded
        from written w
        join changed c on c.provider = w.provider and c.model_id = w.model_id
        on conflict (rollout_id, provider, model_id) do update set seeded = excluded.seeded
      )
      select provider, model_id, action from changed
    `.execute(trx);

    const recorded = await ledgerKeys(trx, rolloutId);
    return {
      ...classifyModels(models, written.rows),
      recorded: { inserted: recorded({ action: 'inserted' }), updated: recorded({ action: 'updated' }) },
    };
  });
}

/**
 * Undoes a rollout's model seeding: deletes the rows it inserted and restores the previous rows of those it
 * updated, but only where the live row is still exactly what the seeding wrote (all columns, `updated_at`
 * included); a row written or deleted since is kept and reported. Idempotent: each ledger row is decided
 * once, and a repeated call changes nothing and returns the same report. Marks the rollout so a seeding
 * attempt arriving later refuses to run.
 *
 * @example
 * const report = await rollbackModelSeeding(db, 'r-20261126-ab12');
 * report.kept[0]; // { key: 'openai/gpt-4.1', reason: 'changed after seeding' } in model-seeding.test.ts
 */
export async function rollbackModelSeeding(
  db: Kysely<Database>,
  rolloutId: string,
): Promise<SeedingRollbackReport> {
  return withLockedCatalogue(db, async (trx) => {
    await trx
      .insertInto('model_seedings')
      .values({ rollout_id: rolloutId, seeded_at: null, rolled_back_at: sql<Date>`now()` })
      .onConflict((oc) =>
        oc
          .column('rollout_id')
          .doUpdateSet({ rolled_back_at: sql<Date>`coalesce(model_seedings.rolled_back_at, now())` }),
      )
      .execute();

    // Decide every undecided ledger row against the live catalogue, then act on exactly those decisions,
    // in one statement (one snapshot). A decided row is never acted on again, so a key the operator
    // re-creates after this rollback is safe from a second one.
    await sql`
      with decided as (
        update model_seeding_changes as l
        set rollback_outcome = case
          when m.provider is null then
            case l.action when 'inserted' then 'absent' else 'kept_deleted' end
          when (m.display_name, m.context_window, m.max_output_tokens, m.capabilities, m.deprecated_on,
                m.updated_at)
               is not distinct from
               (s.display_name, s.context_window, s.max_output_tokens, s.capabilities, s.deprecated_on,
                s.updated_at) then
            case l.action when 'inserted' then 'removed' else 'restored' end
          else 'kept_changed'
        end
        from model_seeding_changes as c
        cross join lateral jsonb_populate_record(null::model_catalog, c.seeded) as s
        left join model_catalog as m on m.provider = c.provider and m.model_id = c.model_id
        where l.rollout_id = ${rolloutId} and l.rollback_outcome is null
          and c.rollout_id = l.rollout_id and c.provider = l.provider and c.model_id = l.model_id
        returning l.provider, l.model_id, l.rollback_outcome, l.previous
      ),
      removed as (
        delete from model_catalog as m
        using decided as d
        where d.rollback_outcome = 'removed' and m.provider = d.provider and m.model_id = d.model_id
      )
      update model_catalog as m
      set display_name = p.display_name,
          context_window = p.context_window,
          max_output_tokens = p.max_output_tokens,
          capabilities = p.capabilities,
          deprecated_on = p.deprecated_on,
          updated_at = p.updated_at
      from decided as d
      cross join lateral jsonb_populate_record(null::model_catalog, d.previous) as p
      where d.rollback_outcome = 'restored' and m.provider = d.provider and m.model_id = d.model_id
    `.execute(trx);

    const recorded = await ledgerKeys(trx, rolloutId);
    const keysWith = (outcome: SeedingRollbackOutcome) => recorded({ rollback_outcome: outcome });
    return {
      removed: keysWith('removed'),
      restored: keysWith('restored'),
      kept: [
        ...keysWith('kept_changed').map((key) => ({ key, reason: 'changed after seeding' as const })),
        ...keysWith('kept_deleted').map((key) => ({ key, reason: 'deleted after seeding' as const })),
      ],
      alreadyAbsent: keysWith('absent'),
    };
  });
}
