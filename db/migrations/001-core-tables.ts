import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<any>: they run against whatever schema exists at their point in history.
/* eslint-disable @typescript-eslint/no-explicit-any */

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('runtime_config')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('user_id', 'text')
    .addColumn('key', 'text', (col) => col.notNull())
    .addColumn('value', 'text', (col) => col.notNull())
    .addColumn('value_type', 'text', (col) =>
      col.notNull().check(sql`value_type in ('string', 'number', 'boolean', 'json', 'secret')`),
    )
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // Legacy data may hold duplicates, so this lookup index is not unique; the key migration adds uniqueness.
  await db.schema
    .createIndex('runtime_config_key_user_idx')
    .on('runtime_config')
    .columns(['key', 'user_id'])
    .execute();

  await db.schema
    .createTable('prompt_templates')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('body', 'text', (col) => col.notNull())
    .addColumn('llm_preferences', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('model_catalog')
    .addColumn('provider', 'text', (col) => col.notNull())
    .addColumn('model_id', 'text', (col) => col.notNull())
    .addColumn('display_name', 'text', (col) => col.notNull())
    .addColumn('context_window', 'integer', (col) => col.notNull().check(sql`context_window > 0`))
    .addColumn('max_output_tokens', 'integer', (col) => col.notNull().check(sql`max_output_tokens > 0`))
    .addColumn('capabilities', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('deprecated_on', 'date')
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('model_catalog_pkey', ['provider', 'model_id'])
    .execute();

  await db.schema
    .createTable('rollout_runs')
    .addColumn('rollout_id', 'text', (col) => col.primaryKey())
    .addColumn('workflow_id', 'text', (col) => col.notNull())
    .addColumn('flag', 'text', (col) => col.notNull())
    .addColumn('unleash_project', 'text', (col) => col.notNull())
    .addColumn('environment', 'text', (col) => col.notNull())
    .addColumn('plan', 'jsonb', (col) => col.notNull())
    .addColumn('state', 'text', (col) =>
      col.notNull().check(sql`state in ('running', 'completed', 'failed', 'rolled_back', 'cancelled')`),
    )
    .addColumn('phase', 'text', (col) => col.notNull())
    .addColumn('percent', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('started_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  // One rollout per flag and environment at a time (SPEC §5).
  await sql`
    create unique index rollout_runs_one_running_per_flag
      on rollout_runs (unleash_project, environment, flag) where state = 'running'
  `.execute(db);

  await db.schema
    .createTable('rollout_audit_events')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('rollout_id', 'text', (col) => col.notNull().references('rollout_runs.rollout_id'))
    .addColumn('dedupe_key', 'text', (col) => col.notNull())
    .addColumn('at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('actor', 'text', (col) => col.notNull())
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('details', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addUniqueConstraint('rollout_audit_events_dedupe', ['rollout_id', 'dedupe_key'])
    .execute();
  await sql`
    create function rollout_audit_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'rollout_audit_events is append-only (% rejected)', tg_op
        using errcode = 'insufficient_privilege';
    end
    $$
  `.execute(db);
  await sql`
    create trigger rollout_audit_events_no_update_delete
      before update or delete on rollout_audit_events
      for each row execute function rollout_audit_events_append_only()
  `.execute(db);
  await sql`
    create trigger rollout_audit_events_no_truncate
      before truncate on rollout_audit_events
      for each statement execute function rollout_audit_events_append_only()
  `.execute(db);

  await db.schema
    .createTable('rollout_backups')
    .addColumn('rollout_id', 'text', (col) => col.notNull().references('rollout_runs.rollout_id'))
    .addColumn('source_table', 'text', (col) => col.notNull())
    .addColumn('backup_table', 'text', (col) => col.notNull().unique())
    .addColumn('row_count', 'bigint', (col) => col.notNull())
    .addColumn('checksum', 'text', (col) => col.notNull())
    .addColumn('verified_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('rollout_backups_pkey', ['rollout_id', 'source_table'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('rollout_backups').execute();
  await db.schema.dropTable('rollout_audit_events').execute();
  await sql`drop function rollout_audit_events_append_only()`.execute(db);
  await db.schema.dropTable('rollout_runs').execute();
  await db.schema.dropTable('model_catalog').execute();
  await db.schema.dropTable('prompt_templates').execute();
  await db.schema.dropTable('runtime_config').execute();
}
