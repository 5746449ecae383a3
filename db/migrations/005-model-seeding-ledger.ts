import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<any>: they run against whatever schema exists at their point in history.
/* eslint-disable @typescript-eslint/no-explicit-any */

// The ledger that makes model seeding exactly reversible (db/model-catalog-seeding.ts). Schema only: the
// seeding itself is an activity, never a migration (SPEC §10).

export async function up(db: Kysely<any>): Promise<void> {
  // One row per rollout that seeded or rolled back. The rollback writes it even when seeding never ran, so a
  // late seeding attempt (a timed-out activity still running on a lost worker) finds it and refuses.
  await db.schema
    .createTable('model_seedings')
    .addColumn('rollout_id', 'text', (col) => col.primaryKey().references('rollout_runs.rollout_id'))
    .addColumn('seeded_at', 'timestamptz')
    .addColumn('rolled_back_at', 'timestamptz')
    .execute();

  // One row per catalogue row a rollout inserted or updated. `previous` is the whole row before the first
  // change (never rewritten by a rerun); `seeded` the whole row as the rollout last wrote it, which the
  // rollback compares with the live row to tell a later write from its own.
  await db.schema
    .createTable('model_seeding_changes')
    .addColumn('rollout_id', 'text', (col) => col.notNull().references('model_seedings.rollout_id'))
    .addColumn('provider', 'text', (col) => col.notNull())
    .addColumn('model_id', 'text', (col) => col.notNull())
    .addColumn('action', 'text', (col) => col.notNull().check(sql`action in ('inserted', 'updated')`))
    .addColumn('previous', 'jsonb')
    .addColumn('seeded', 'jsonb', (col) => col.notNull())
    .addColumn('rollback_outcome', 'text', (col) =>
      col.check(sql`rollback_outcome in ('removed', 'restored', 'absent', 'kept_changed', 'kept_deleted')`),
    )
    .addPrimaryKeyConstraint('model_seeding_changes_pkey', ['rollout_id', 'provider', 'model_id'])
    .addCheckConstraint('model_seeding_changes_previous', sql`(action = 'updated') = (previous is not null)`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('model_seeding_changes').execute();
  await db.schema.dropTable('model_seedings').execute();
}
