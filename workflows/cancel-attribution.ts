import { patched } from '@temporalio/workflow';
import { cancelReads } from './activity-proxies';
import { errorText } from './failure-text';
import type { RolloutJournal } from './rollout-journal';
import type { RolloutStatus } from './rollout-status';

/**
 * The actor when the server recorded no identity with the cancel request. The Temporal Web UI's Request
 * Cancellation sends none (its request has no body); `rollout cancel` sends user@host.
 */
export const UNKNOWN_CANCELLER =
  'unknown (the cancel request carries no identity, as from the Web UI: use rollout cancel to be named)';

/**
 * Names who cancelled the rollout: Temporal keeps the cancel request's identity (the CLI's user@host, the Web
 * UI's user) and reason in the history only, so an activity reads them there. The audit log gets an
 * `operator_cancel` row with that actor before any rollback row, and the status says it. A read that fails
 * still lets the rollback go on (the row then says the canceller is unknown, and why).
 * Histories recorded before this existed replay without it (`patched`).
 */
export async function attributeCancel(
  runId: string,
  status: RolloutStatus,
  journal: RolloutJournal,
  options: { keepCause?: boolean } = {},
): Promise<void> {
  if (!patched('cancel-attribution')) return;
  let actor = UNKNOWN_CANCELLER;
  let reason: string | null = null;
  try {
    const request = await cancelReads.readCancelRequest();
    actor = request.identity ?? UNKNOWN_CANCELLER;
    reason = request.reason;
  } catch (error) {
    actor = `unknown (the cancel request could not be read: ${errorText(error)})`.slice(0, 200);
  }
  const message = `cancel requested by ${actor}${reason ? `: ${reason}` : ''}; rolling back`;
  // A cancel during a rollback already under way does not replace that rollback's cause.
  if (!options.keepCause) status.error = `cancelled by ${actor}${reason ? `: ${reason}` : ''}`;
  status.cancelledBy = actor;
  try {
    await journal.record(
      {
        dedupeKey: `operator-${runId}-cancel`,
        kind: 'operator_cancel',
        actor,
        details: { reason, via: 'cancel request' },
      },
      message,
      cancelReads,
    );
  } catch (error) {
    // The cancel is in effect whatever happens; the status still names the canceller.
    journal.note('audit_write_failed', `${message} (not in the audit log: ${errorText(error)})`);
  }
}
