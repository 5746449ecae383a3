import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { ValueType } from '../src/config-values/typed-value';
import type { ModelCatalogTable, ModelSeedingTables } from './model-seeding-schema';
import type { TemplateMigrationTables } from './template-quarantine-schema';

/** Timestamps are written by Postgres defaults and read back as `Date`. */
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

/** One configuration value; `user_id` NULL is the global value of the key. */
export interface RuntimeConfigTable {
  id: Generated<number>;
  user_id: string | null;
  key: string;
  value: string;
  value_type: ValueType;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface PromptTemplatesTable {
  id: Generated<number>;
  name: string;
  body: string;
  llm_preferences: ColumnType<Record<string, unknown>, string | undefined, string>;
  updated_at: UpdatedAt;
}

export type RolloutState =
  'running' | 'completed' | 'failed' | 'rolled_back' | 'cancelled' | 'rollback_failed';

/** One row per rollout; at most one `running` row per (project, environment, flag). */
export interface RolloutRunsTable {
  rollout_id: string;
  workflow_id: string;
  flag: string;
  unleash_project: string;
  environment: string;
  plan: ColumnType<unknown, string, string>;
  state: RolloutState;
  phase: string;
  percent: number;
  started_at: CreatedAt;
  updated_at: UpdatedAt;
  finished_at: Date | null;
}

/** Append-only: a trigger rejects UPDATE, DELETE and TRUNCATE. */
export interface RolloutAuditEventsTable {
  id: Generated<number>;
  rollout_id: string;
  /** Makes an activity retry append the same decision once. */
  dedupe_key: string;
  at: CreatedAt;
  actor: string;
  kind: string;
  details: ColumnType<Record<string, unknown>, string, never>;
}

export interface RolloutBackupsTable {
  rollout_id: string;
  source_table: string;
  backup_table: string;
  row_count: number;
  checksum: string;
  verified_at: CreatedAt;
}

export type { ModelCatalogTable, ValueType };

/** Every table; the seeding and template-migration ledgers' types live beside their code. */
export interface Database extends ModelSeedingTables, TemplateMigrationTables {
  runtime_config: RuntimeConfigTable;
  prompt_templates: PromptTemplatesTable;
  model_catalog: ModelCatalogTable;
  rollout_runs: RolloutRunsTable;
  rollout_audit_events: RolloutAuditEventsTable;
  rollout_backups: RolloutBackupsTable;
}

export type RuntimeConfigRow = Selectable<RuntimeConfigTable>;
export type NewRuntimeConfigRow = Insertable<RuntimeConfigTable>;
export type PromptTemplateRow = Selectable<PromptTemplatesTable>;
export type RolloutRunRow = Selectable<RolloutRunsTable>;
export type AuditEventRow = Selectable<RolloutAuditEventsTable>;
export type BackupRow = Selectable<RolloutBackupsTable>;
