import type { ColumnType, Generated } from 'kysely';

/** One row per rollout that migrated templates or rolled that back (migration 006). */
export interface TemplateMigrationsTable {
  rollout_id: string;
  /** Null when the rollback came first (the migration never ran). */
  on_invalid: 'quarantine' | 'defaults' | null;
  started_at: Date | null;
  completed_at: Date | null;
  rolled_back_at: Date | null;
}

/**
 * A field given in two or more spellings, resolved to its snake_case value (the template migration's rule,
 * activities/template-migration/normalize-llm-preferences.ts): as decided, as stored in the ledger, and with
 * `Value` a shortened rendering, as reported.
 */
export interface SpellingConflict<Value = unknown> {
  /** The snake_case field. */
  field: string;
  kept: { key: string; value: Value };
  dropped: { key: string; value: Value }[];
  /** Every spelling carried the same value: nothing was lost. */
  agreed: boolean;
}

/** One row per template whose llm_preferences a rollout rewrote (migration 006). */
export interface TemplateMigrationChangesTable {
  rollout_id: string;
  template_id: number;
  /** md5 of `llm_preferences::text` before and after the rewrite, as a uuid. */
  previous_hash: string;
  written_hash: string;
  conflicts: ColumnType<SpellingConflict[] | null, string | null, string | null>;
  migrated_at: Generated<Date>;
}

export type QuarantineAction = 'left_untouched' | 'invalid_fields_dropped';

/** A template the migration found invalid (migration 006). */
export interface TemplateQuarantineTable {
  rollout_id: string;
  template_id: number;
  /** llm_preferences as found: any JSON value. */
  original: ColumnType<unknown, string, never>;
  /** The zod issues, one readable line each. */
  issues: ColumnType<string[], string, string>;
  action: QuarantineAction;
  /** With `invalid_fields_dropped`: each dropped field, the keys removed for it and its issues. */
  dropped: ColumnType<{ field: string; keys: string[]; issues: string[] }[] | null, string | null, never>;
  quarantined_at: Generated<Date>;
}

/** The tables of migration 006; `Database` (db/schema.ts) includes them. */
export type TemplateMigrationTables = {
  template_migrations: TemplateMigrationsTable;
  template_migration_changes: TemplateMigrationChangesTable;
  template_quarantine: TemplateQuarantineTable;
};
