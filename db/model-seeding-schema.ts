import type { ColumnType, Selectable } from 'kysely';

/** Written by Postgres defaults and read back as `Date` (as in db/schema.ts, kept here to avoid a circle). */
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

/** The model catalogue, natural key (provider, model_id). */
export interface ModelCatalogTable {
  provider: string;
  model_id: string;
  display_name: string;
  context_window: number;
  max_output_tokens: number;
  capabilities: ColumnType<string[], string, string>;
  deprecated_on: ColumnType<string | null, string | null | undefined, string | null>;
  updated_at: UpdatedAt;
}

/** A `model_catalog` row as `to_jsonb` renders it: dates and timestamps are strings. */
export type ModelCatalogJsonRow = { [K in keyof Selectable<ModelCatalogTable>]: unknown };

/** One row per rollout that seeded the model catalogue or rolled its seeding back (migration 005). */
export interface ModelSeedingsTable {
  rollout_id: string;
  seeded_at: Date | null;
  rolled_back_at: Date | null;
}

export type SeedingRollbackOutcome = 'removed' | 'restored' | 'absent' | 'kept_changed' | 'kept_deleted';

/** One row per catalogue row a rollout's seeding inserted or updated (migration 005). */
export interface ModelSeedingChangesTable {
  rollout_id: string;
  provider: string;
  model_id: string;
  action: 'inserted' | 'updated';
  /** The row before the rollout first changed it; null for an inserted row. */
  previous: ColumnType<ModelCatalogJsonRow | null, string | null, never>;
  /** The row as the rollout last wrote it. */
  seeded: ColumnType<ModelCatalogJsonRow, string, string>;
  rollback_outcome: SeedingRollbackOutcome | null;
}

/**
 * The tables of migration 005, to merge into `Database` in db/schema.ts. A type alias, not an interface, so
 * it satisfies the record constraint of Kysely's `withTables` until then.
 */
export type ModelSeedingTables = {
  model_seedings: ModelSeedingsTable;
  model_seeding_changes: ModelSeedingChangesTable;
};
