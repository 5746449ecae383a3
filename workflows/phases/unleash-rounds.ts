import { ActivityFailure, CancellationScope, condition, isCancellation } from '@temporalio/workflow';
import { errorText } from '../failure-text';
import { ContinueAsNewNeeded } from '../history-budget';
import { boundedText } from '../operator-request';
import { MAX_EVENT_MESSAGE_CHARS, type RolloutEvent } from '../rollout-status';
import { startStoppable } from '../stoppable-activity';
import { workflowNowIso } from '../workflow-clock';
import { FIRST_ROUND_ATTEMPTS, flagFirstRound, flagLaterRound, LATER_ROUND_ATTEMPTS } from './flag-proxies';
import type { PhaseContext } from './phase-context';

/** The activities of one round: `flagFirstRound` for the first, `flagLaterRound` for every later one. */
export type RoundProxy = typeof flagFirstRound;

/** What the status and the audit log say while Unleash does not answer. */
export interface UnleashWaitReport {
  /** Kind of the status event (updated in place after each failed round) and of the one audit row. */
  kind: string;
  /** The audit row's dedupe key: one row per wait, at its first failed round. */
  dedupeKey: string;
  details: Record<string, unknown>;
  /** The event's text and the status's `operatorAction` (after {@link UNLEASH_WAIT_ACTION}) after a failed round. */
  describe(failure: { attempts: number; since: string; lastError: string }): {
    message: string;
    action: string;
  };
}

/**
 * Starts every `operatorAction` a wait for Unleash sets, so a run that took over the status from one that was
 * waiting (continue-as-new) can tell that text from an operator action of its own and clear it.
 */
export const UNLEASH_WAIT_ACTION = 'waiting for Unleash: ';

/** A failure another attempt may fix: anything but an activity that failed for good (non-retryable). */
function worthRetrying(error: unknown): boolean {
  return error instanceof ActivityFailure && error.retryState !== 'NON_RETRYABLE_FAILURE';
}

/**
 * Calls Unleash (one activity per round, Temporal retrying inside the round) until it answers, saying in the
 * status why the rollout waits while it does not: after each failed round `operatorAction` and one event of
 * `report.kind` (updated in place, so the bounded events list is not flooded) give the attempts so far and the
 * last error; the first failed round writes one audit row. Between rounds the run hands over to a new one when
 * its history nears its limit (the caller's step runs again there). A non-retryable failure is thrown.
 *
 * With `interruptible`, a rollback request ends the wait: the call is cancelled (an attempt in flight finishes
 * first, so nothing reaches Unleash after the rollback's own write) and the request is thrown as
 * `RollbackRequested`. The rollback's flag-to-0 itself is not interruptible.
 */
export async function inUnleashRounds<T>(
  context: PhaseContext,
  report: UnleashWaitReport,
  call: (proxy: RoundProxy) => Promise<T>,
  options: { interruptible: boolean },
): Promise<T> {
  const { status, journal, waits } = context;
  const carried = status.operatorAction;
  const actionBefore = carried?.startsWith(UNLEASH_WAIT_ACTION) ? null : carried;
  let attempts = 0;
  let since: string | null = null;
  let event: RolloutEvent | undefined;
  for (let round = 0; ; round++) {
    const proxy = round === 0 ? flagFirstRound : flagLaterRound;
    try {
      const value = options.interruptible
        ? await unlessRollback(context, () => call(proxy))
        : await call(proxy);
      status.operatorAction = actionBefore;
      return value;
    } catch (error) {
      if (!worthRetrying(error) || (options.interruptible && waits.rollbackRequested())) {
        status.operatorAction = actionBefore;
        // A rollback asked for meanwhile is why it stops: throw it as such.
        if (options.interruptible && waits.rollbackRequested()) await waits.checkpoint();
        throw error;
      }
      attempts += round === 0 ? FIRST_ROUND_ATTEMPTS : LATER_ROUND_ATTEMPTS;
      since ??= workflowNowIso();
      const { message, action } = report.describe({ attempts, since, lastError: errorText(error) });
      status.operatorAction = `${UNLEASH_WAIT_ACTION}${action}`;
      if (event !== undefined && status.events.includes(event)) {
        event.at = workflowNowIso();
        event.message = boundedText(message, MAX_EVENT_MESSAGE_CHARS);
      } else if (round === 0) {
        // record() adds the status event before it writes the audit row: keep that event to update later.
        const recorded = journal.record(
          {
            dedupeKey: report.dedupeKey,
            kind: report.kind,
            details: { ...report.details, attempts, error: errorText(error) },
          },
          message,
        );
        event = status.events.at(-1);
        await recorded;
      } else {
        // Dropped from the bounded events list meanwhile: add it again.
        journal.note(report.kind, message);
        event = status.events.at(-1);
      }
      if (waits.handOverDue()) throw new ContinueAsNewNeeded();
    }
  }
}

/**
 * Runs `start` (an activity) until it settles or a rollback is requested; then cancels it and waits until it
 * stopped. A cancelled workflow cancels the activity too and waits the same way.
 */
async function unlessRollback<T>(context: PhaseContext, start: () => Promise<T>): Promise<T> {
  const { waits } = context;
  const call = startStoppable(start);
  await CancellationScope.nonCancellable(() => condition(() => call.settled() || waits.rollbackRequested()));
  if (!call.settled()) call.cancel();
  const result = await call.ended;
  if (result.ok) return result.value;
  if (isCancellation(result.error) && waits.rollbackRequested()) await waits.checkpoint();
  throw result.error;
}
