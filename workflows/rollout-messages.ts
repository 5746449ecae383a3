import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OperatorRequest } from './operator-request';
import type { OperatorAnswer, RolloutStatus } from './rollout-status';

/** Current phase, stage, percent, backups and recent events; shared by the CLI, tests and the Temporal UI. */
export const statusQuery = defineQuery<RolloutStatus>('status');

// Operator messages, each as a signal (fire and forget, e.g. from the Temporal UI) and as an update (the
// CLI's synchronous form: a validator refuses what cannot apply now, with the reason, before history changes).
// Payload: { "actor": "alice@laptop", "reason": "error rate" } — only these two keys, strings of at most
// 200 and 1,000 characters; a rollback may add "scope": "flag" | "full". A signal that breaks the rule is
// ignored and noted (type and size, never its content); an update that breaks it is refused with the reason.

/** Hold before the next stage or phase; the current soak keeps running. */
export const pauseSignal = defineSignal<[OperatorRequest]>('pause');
export const resumeSignal = defineSignal<[OperatorRequest]>('resume');
/** Let a stage marked `approval: true` in the plan start. */
export const approveSignal = defineSignal<[OperatorRequest]>('approve');
/**
 * Roll back now: the flag to 0 %, then (scope `full`) the data phases in reverse; scope `flag` leaves the data
 * phases that finished migrated. Without a scope, the plan's `rollback.scope`. A data phase running when it
 * arrives is cancelled (it stops at a batch boundary) and undone.
 */
export const rollbackSignal = defineSignal<[OperatorRequest]>('rollback');

export const pauseUpdate = defineUpdate<OperatorAnswer, [OperatorRequest]>('pause-rollout');
export const resumeUpdate = defineUpdate<OperatorAnswer, [OperatorRequest]>('resume-rollout');
export const approveUpdate = defineUpdate<OperatorAnswer, [OperatorRequest]>('approve-stage');
export const rollbackUpdate = defineUpdate<OperatorAnswer, [OperatorRequest]>('rollback-rollout');

/**
 * The failure type a rollout ends with when it rolled back as asked (an operator's, a gate's or an escalation's
 * rollback): outcome `rolled_back`. Its first detail is the final status. Other ends: `RollbackFailed` (also with
 * the status), `RolloutFailed` or the phase's own failure, `Cancelled`.
 */
export const ROLLED_BACK_FAILURE = 'RolledBack';
