import { ActivityFailure } from '@temporalio/workflow';
import type { FlagTarget, RolloutReadback } from '../../src/unleash/unleash-admin-client';
import { errorText } from '../failure-text';
import { ContinueAsNewNeeded } from '../history-budget';
import { boundedText } from '../operator-request';
import { MAX_EVENT_MESSAGE_CHARS, type RolloutEvent } from '../rollout-status';
import { workflowNowIso } from '../workflow-clock';
import { FIRST_ROUND_ATTEMPTS, flagFirstRound, flagLaterRound, LATER_ROUND_ATTEMPTS } from './flag-proxies';
import type { PhaseContext } from './phase-context';

/**
 * The `patched()` id of {@link setFlagToZeroUntilConfirmed}. Histories recorded before it (one
 * `setFlagPercent` retried by Temporal until Unleash answered) replay on the old path.
 */
export const FLAG_ROLLBACK_ROUNDS_PATCH = 'ramp-flag-rollback-rounds';

/** Kind of the status event (and audit row) that says the flag-to-0 is not confirmed yet. */
export const FLAG_ROLLBACK_RETRYING = 'flag_rollback_retrying';

/** A failure another attempt may fix: anything but an activity that failed for good (non-retryable). */
function worthRetrying(error: unknown): boolean {
  return error instanceof ActivityFailure && error.retryState !== 'NON_RETRYABLE_FAILURE';
}

/**
 * The rollback's first step (issue 9, must-show 7): the flag to 0 %, retried until Unleash confirms it, as
 * before, but in rounds of a bounded number of attempts, so that while Unleash does not answer the status says
 * so: `operatorAction` names the problem and one `flag_rollback_retrying` event (updated in place, so the
 * events list is not flooded) counts the failed attempts and gives the last error; the audit log gets one
 * `flag_rollback_retrying` row at the first failed round. The status keeps the last confirmed percent until
 * Unleash confirms 0 %. Between rounds the run hands over to a new one when its history nears its limit (the
 * new run starts this step again). A non-retryable failure is thrown, as before (the saga records it).
 */
export async function setFlagToZeroUntilConfirmed(
  context: PhaseContext,
  target: FlagTarget,
): Promise<RolloutReadback> {
  const { status, journal, waits } = context;
  const actionBefore = status.operatorAction;
  let attempts = 0;
  let since: string | null = null;
  let event: RolloutEvent | undefined;
  for (let round = 0; ; round++) {
    try {
      const readback =
        round === 0
          ? await flagFirstRound.setFlagPercent({ target, percent: 0 })
          : await flagLaterRound.setFlagPercent({ target, percent: 0 });
      status.operatorAction = actionBefore;
      return readback;
    } catch (error) {
      if (!worthRetrying(error)) {
        status.operatorAction = actionBefore;
        throw error;
      }
      attempts += round === 0 ? FIRST_ROUND_ATTEMPTS : LATER_ROUND_ATTEMPTS;
      since ??= workflowNowIso();
      const lastError = errorText(error);
      const message =
        `Unleash has not confirmed the flag at 0% yet: ${attempts} attempts failed since ${since}, ` +
        `the last with: ${lastError}; retrying until Unleash confirms it (users keep the flag's last state meanwhile)`;
      status.operatorAction =
        `the flag ${target.flag} is not confirmed at 0% yet (${attempts} attempts, last error: ${lastError}). ` +
        'Bring Unleash back (or check the worker can reach it); the rollback retries on its own and goes on ' +
        'once Unleash confirms 0%.';
      if (event !== undefined && status.events.includes(event)) {
        event.at = workflowNowIso();
        event.message = boundedText(message, MAX_EVENT_MESSAGE_CHARS);
      } else if (round === 0) {
        // record() adds the status event before it writes the audit row: take that event to update later.
        const recorded = journal.record(
          {
            dedupeKey: 'flag-rollback-retrying',
            kind: FLAG_ROLLBACK_RETRYING,
            details: { percent: 0, attempts, error: lastError },
          },
          message,
        );
        event = status.events.at(-1);
        await recorded;
      } else {
        // Dropped from the bounded events list meanwhile: add it again.
        journal.note(FLAG_ROLLBACK_RETRYING, message);
        event = status.events.at(-1);
      }
      if (waits.handOverDue()) throw new ContinueAsNewNeeded();
    }
  }
}
