import { sql, type Kysely } from 'kysely';

// A rollback whose compensation could not finish ends the run as `rollback_failed`: the run row must leave
// `running` (so the flag is free for the next rollout) without claiming the data is back.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table rollout_runs drop constraint if exists rollout_runs_state_check`.execute(db);
  await sql`
    alter table rollout_runs add constraint rollout_runs_state_check
      check (state in ('running', 'completed', 'failed', 'rolled_back', 'cancelled', 'rollback_failed'))
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table rollout_runs drop constraint if exists rollout_runs_state_check`.execute(db);
  await sql`
    alter table rollout_runs add constraint rollout_runs_state_check
      check (state in ('running', 'completed', 'failed', 'rolled_back', 'cancelled'))
  `.execute(db);
}
