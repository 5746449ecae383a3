import {
  CancellationScope,
  condition,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { ROLLOUT_OUTCOME, ROLLOUT_PAUSED } from '../src/temporal/search-attributes';
import { renderCurrentDetails } from './current-details';
import type { RolloutStatus } from './rollout-status';

/**
 * Keeps what the Temporal UI shows about a rollout in step with its status, whoever changed it (a phase, an
 * operator message, a gate, the drift guard): the workflow's current details (Markdown at the top of its page)
 * and the `RolloutOutcome` / `RolloutPaused` search attributes, so the list finds "everything paused" and
 * "everything rolled back" without opening a rollout.
 *
 * A waiting loop re-checks after every activation, so no caller has to remember to publish. The search
 * attributes are commands; histories recorded before they existed replay without them (`patched`).
 */
export class UiPresence {
  private shownDetails = '';
  private shownPaused: boolean | undefined;
  private shownOutcome: string | undefined;
  private readonly attributes: boolean;

  constructor(private readonly status: RolloutStatus) {
    this.attributes = patched('ui-outcome-search-attributes');
  }

  /** Starts following the status; returns at once. */
  follow(): void {
    // Not cancellable: a cancelled rollout still compensates (and must keep showing it); a cancelled wait here
    // would be an unhandled rejection that fails every workflow task of the cancel.
    void CancellationScope.nonCancellable(async () => {
      for (;;) {
        await condition(() => this.stale());
        this.publish();
      }
    });
  }

  /** Publishes now (before the workflow returns, so the last state is never left to the loop). */
  publish(): void {
    const details = renderCurrentDetails(this.status);
    if (details !== this.shownDetails) {
      setCurrentDetails(details);
      this.shownDetails = details;
    }
    if (!this.attributes) return;
    const { paused, outcome } = this.status;
    if (paused !== this.shownPaused || outcome !== this.shownOutcome) {
      upsertSearchAttributes([
        { key: ROLLOUT_PAUSED, value: paused },
        { key: ROLLOUT_OUTCOME, value: outcome },
      ]);
      this.shownPaused = paused;
      this.shownOutcome = outcome;
    }
  }

  private stale(): boolean {
    if (
      this.attributes &&
      (this.status.paused !== this.shownPaused || this.status.outcome !== this.shownOutcome)
    )
      return true;
    return renderCurrentDetails(this.status) !== this.shownDetails;
  }
}
