import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<any>: they run against whatever schema exists at their point in history.
/* eslint-disable @typescript-eslint/no-explicit-any */

// What makes the template migration (db/template-migration.ts) reviewable and exactly reversible. Schema
// only: the migration itself is an activity, never a schema migration (SPEC §10).

export async function up(db: Kysely<any>): Promise<void> {
  // One row per rollout that migrated templates or rolled that back. The rollback stamps it (creating it if
  // the migration never ran) before restoring, and every migration batch holds a share lock on it and checks
  // the stamp, so an attempt still running on a lost worker cannot re-migrate behind the rollback.
  await db.schema
    .createTable('template_migrations')
    .addColumn('rollout_id', 'text', (col) => col.primaryKey().references('rollout_runs.rollout_id'))
    .addColumn('on_invalid', 'text', (col) => col.check(sql`on_invalid in ('quarantine', 'defaults')`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('completed_at', 'timestamptz')
    .addColumn('rolled_back_at', 'timestamptz')
    .execute();

  // One row per template whose llm_preferences the migration rewrote: md5 of the value it replaced and of
  // the value it wrote. The rollback puts a row back only while it still holds exactly what the migration
  // wrote over exactly what the backup holds; anything else is a write made after the backup, and is kept.
  await db.schema
    .createTable('template_migration_changes')
    .addColumn('rollout_id', 'text', (col) => col.notNull().references('template_migrations.rollout_id'))
    .addColumn('template_id', 'bigint', (col) => col.notNull())
    .addColumn('previous_hash', 'uuid', (col) => col.notNull())
    .addColumn('written_hash', 'uuid', (col) => col.notNull())
    // Fields given in two spellings and resolved to the snake_case value: kept with the change so the
    // report is exact even when a crash lost the heartbeat that carried them.
    .addColumn('conflicts', 'jsonb')
    .addColumn('migrated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('template_migration_changes_pkey', ['rollout_id', 'template_id'])
    .execute();

  // Templates the migration found invalid. `original` is llm_preferences as found (any JSON, also a string,
  // a list or null); `issues` the zod issues as readable lines. `left_untouched` is the default; with the
  // plan's `onInvalid: defaults` the invalid fields were dropped (`dropped` says which, and why).
  await db.schema
    .createTable('template_quarantine')
    .addColumn('rollout_id', 'text', (col) => col.notNull().references('template_migrations.rollout_id'))
    .addColumn('template_id', 'bigint', (col) => col.notNull())
    .addColumn('original', 'jsonb', (col) => col.notNull())
    .addColumn('issues', 'jsonb', (col) => col.notNull().check(sql`jsonb_typeof(issues) = 'array'`))
    .addColumn('action', 'text', (col) =>
      col.notNull().check(sql`action in ('left_untouched', 'invalid_fields_dropped')`),
    )
    .addColumn('dropped', 'jsonb')
    .addColumn('quarantined_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('template_quarantine_pkey', ['rollout_id', 'template_id'])
    .addCheckConstraint(
      'template_quarantine_dropped',
      sql`(action = 'invalid_fields_dropped') = (dropped is not null)`,
    )
    .execute();
  // "Is this template quarantined, and by which rollouts?"
  await db.schema
    .createIndex('template_quarantine_template_idx')
    .on('template_quarantine')
    .column('template_id')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('template_quarantine').execute();
  await db.schema.dropTable('template_migration_changes').execute();
  await db.schema.dropTable('template_migrations').execute();
}
