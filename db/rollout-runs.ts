import type { Kysely, Transaction } from 'kysely';
import type { Database, RolloutRunRow, RolloutState } from './schema';

type Db = Kysely<Database> | Transaction<Database>;

export interface NewRun {
  rolloutId: string;
  workflowId: string;
  flag: string;
  project: string;
  environment: string;
  plan: unknown;
}

/** The rollout already running for the same flag and environment, if any. */
export async function findRunningRun(
  db: Db,
  target: { flag: string; project: string; environment: string },
): Promise<RolloutRunRow | undefined> {
  return db
    .selectFrom('rollout_runs')
    .selectAll()
    .where('state', '=', 'running')
    .where('flag', '=', target.flag)
    .where('unleash_project', '=', target.project)
    .where('environment', '=', target.environment)
    .executeTakeFirst();
}

/**
 * Records a new running rollout. Returns `claimed: false` with the other rollout's id when the flag and
 * environment are taken; a repeated call for the same rollout (an activity retry) is a success.
 */
export async function claimRun(
  db: Db,
  run: NewRun,
): Promise<{ claimed: true } | { claimed: false; heldBy: string; reason: 'id-used' | 'flag-busy' }> {
  const inserted = await db
    .insertInto('rollout_runs')
    .values({
      rollout_id: run.rolloutId,
      workflow_id: run.workflowId,
      flag: run.flag,
      unleash_project: run.project,
      environment: run.environment,
      plan: JSON.stringify(run.plan),
      state: 'running',
      phase: 'preflight',
      percent: 0,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('rollout_id')
    .executeTakeFirst();
  if (inserted) return { claimed: true };
  const existing = await getRun(db, run.rolloutId);
  if (existing) {
    // Our own earlier attempt (the activity retried after its insert committed) is the only acceptable match.
    const sameRun =
      existing.state === 'running' &&
      existing.workflow_id === run.workflowId &&
      existing.flag === run.flag &&
      existing.unleash_project === run.project &&
      existing.environment === run.environment;
    return sameRun ? { claimed: true } : { claimed: false, heldBy: run.rolloutId, reason: 'id-used' };
  }
  const holder = await findRunningRun(db, run);
  return { claimed: false, heldBy: holder?.rollout_id ?? 'unknown', reason: 'flag-busy' };
}

export async function updateRun(
  db: Db,
  rolloutId: string,
  patch: { phase?: string; percent?: number; state?: RolloutState },
): Promise<void> {
  const finished = patch.state !== undefined && patch.state !== 'running';
  await db
    .updateTable('rollout_runs')
    .set((eb) => ({
      ...(patch.phase === undefined ? {} : { phase: patch.phase }),
      ...(patch.percent === undefined ? {} : { percent: patch.percent }),
      ...(patch.state === undefined ? {} : { state: patch.state }),
      ...(finished ? { finished_at: eb.fn<Date>('now') } : {}),
      updated_at: eb.fn<Date>('now'),
    }))
    .where('rollout_id', '=', rolloutId)
    .execute();
}

export function getRun(db: Db, rolloutId: string): Promise<RolloutRunRow | undefined> {
  return db.selectFrom('rollout_runs').selectAll().where('rollout_id', '=', rolloutId).executeTakeFirst();
}
