import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { RolloutActivities } from '../../activities';
import { withSummaries } from '../activity-summaries';

/**
 * Unleash calls in rounds of a bounded number of attempts (`inUnleashRounds`: the ramp's writes and drift reads,
 * the rollback's flag-to-0), so the workflow learns between rounds that Unleash does not answer and can say so
 * in the status. Temporal retries inside a round (nothing in the history); each round adds about six events, so
 * an outage of days keeps the history small. A cancelled call (a rollback requested meanwhile) is waited for
 * until its attempt in flight has ended, so no write of the ramp lands after the rollback's.
 */

/** The first round: three quick attempts (about 3 s of waits), so the status says within seconds. */
export const FIRST_ROUND_ATTEMPTS = 3;
export const flagFirstRound = withSummaries(
  proxyActivities<RolloutActivities>({
    startToCloseTimeout: '1 minute',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '2s',
      maximumAttempts: FIRST_ROUND_ATTEMPTS,
    },
  }),
);

/**
 * Every later round: about 85 s of attempts (waits 1, 2, 4, 8 s, then every 10 s), so Unleash's return is
 * noticed within 10 s and an outage adds a round (about six events) every 85 s: some 6,000 events a day, so a
 * run hands over to a new one (at 10,000 events) about every day and a half of outage.
 */
export const LATER_ROUND_ATTEMPTS = 12;
export const flagLaterRound = withSummaries(
  proxyActivities<RolloutActivities>({
    startToCloseTimeout: '1 minute',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '10s',
      maximumAttempts: LATER_ROUND_ATTEMPTS,
    },
  }),
);
