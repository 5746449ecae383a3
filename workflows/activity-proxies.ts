import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { RolloutActivities } from '../activities';
import { withSummaries } from './activity-summaries';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;

/**
 * Short calls (Unleash, bookkeeping): retried until they succeed or fail for good (non-retryable). The
 * flag-to-0 step of a rollback uses these too: nothing else makes users safe, so it never gives up.
 */
export const calls = withSummaries(
  proxyActivities<RolloutActivities>({ startToCloseTimeout: '1 minute', retry }),
);

/**
 * Data phases: long, heartbeating, so a killed worker is noticed within the heartbeat timeout. A cancelled
 * phase is waited for until it has stopped, so nothing runs after it (a restore, or the next run's rerun).
 */
export const dataPhases = withSummaries(
  proxyActivities<RolloutActivities>({
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '15s',
    retry,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  }),
);

/**
 * Data compensations: a bounded number of attempts (about 8 minutes of retries), so a restore that keeps
 * failing is reported as left undone and the rest of the rollback still runs.
 */
export const restores = withSummaries(
  proxyActivities<RolloutActivities>({
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '15s',
    retry: { ...retry, maximumAttempts: 20 },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  }),
);

/** Short compensations (the model seeding's rollback): bounded like the restores, for the same reason. */
export const boundedCalls = withSummaries(
  proxyActivities<RolloutActivities>({
    startToCloseTimeout: '1 minute',
    retry: { ...retry, maximumAttempts: 20 },
  }),
);

/**
 * Audit writes made for an operator message: a few attempts only, so a message whose record cannot be written
 * is refused instead of holding its handler (and so the hand-over to a new run) forever.
 */
export const operatorAudit = withSummaries(
  proxyActivities<RolloutActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { ...retry, maximumAttempts: 5 },
  }),
);

/**
 * Who cancelled, and its audit row: run before the rollback's first step, so briefly bounded (a Postgres or
 * Temporal that does not answer must not keep the flag up): the rollback goes on without the attribution.
 */
export const cancelReads = withSummaries(
  proxyActivities<RolloutActivities>({
    startToCloseTimeout: '5 seconds',
    retry: { ...retry, maximumAttempts: 2 },
  }),
);

/**
 * The gated soak (`runStageGates`): one activity for a stage's whole soak, heartbeating its running tallies,
 * so a killed worker is noticed within the heartbeat timeout and the retry resumes from the last heartbeat.
 * Cancelled without waiting: a rollback must not wait for a measurement in flight (the activity stops at its
 * next heartbeat; a late measurement only adds an audit row).
 */
export const gates = withSummaries(
  proxyActivities<RolloutActivities>({
    startToCloseTimeout: '8 days',
    heartbeatTimeout: '10s',
    retry,
    cancellationType: ActivityCancellationType.TRY_CANCEL,
  }),
);
