import { appendAuditEvent } from '../../db/audit-events';
import { updateRun } from '../../db/rollout-runs';
import type { RolloutState } from '../../db/schema';
import type { ActivityDeps } from '../activity-deps';

export interface RecordEventInput {
  rolloutId: string;
  /** Deterministic per decision (e.g. `stage-1-reached`), so a retried activity records it once. */
  dedupeKey: string;
  actor: string;
  kind: string;
  details: Record<string, unknown>;
  phase?: string;
  percent?: number;
  state?: RolloutState;
}

/** Appends a decision to the audit log and moves the run row along, in one transaction. */
export async function recordEvent(deps: ActivityDeps, input: RecordEventInput): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    await appendAuditEvent(trx, input);
    if (input.phase !== undefined || input.percent !== undefined || input.state !== undefined) {
      await updateRun(trx, input.rolloutId, {
        phase: input.phase,
        percent: input.percent,
        state: input.state,
      });
    }
  });
}
