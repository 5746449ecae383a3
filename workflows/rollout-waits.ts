import { CancellationScope, condition, isCancellation } from '@temporalio/workflow';
import { ContinueAsNewNeeded, historyNearLimit } from './history-budget';
import type { OperatorControls } from './operator-controls';

/** Thrown at the next checkpoint after an operator asked for a rollback. */
export class RollbackRequested extends Error {
  constructor(actor: string, reason: string) {
    super(`rollback requested by ${actor}: ${reason}`);
    this.name = 'RollbackRequested';
  }
}

/**
 * How the rollout waits: for an operator (pause, approval), for a soak, for a long activity. Every wait
 * ends early on a rollback request, and hands over to a new run instead of letting the history grow past
 * its limit.
 */
export class RolloutWaits {
  /** Off once a cancelled rollout compensates: a cancel request does not survive a hand-over. */
  mayHandOver = true;

  constructor(private readonly controls: OperatorControls) {}

  handOverDue(): boolean {
    return this.mayHandOver && historyNearLimit();
  }

  rollbackRequested(): boolean {
    return this.controls.rollbackRequest !== null;
  }

  /** Waits for `ready` (or the timeout); hands over to a new run instead when the history nears its limit. */
  async waitFor(ready: () => boolean, timeoutMs?: number): Promise<void> {
    const wake = () => ready() || this.handOverDue();
    await (timeoutMs === undefined ? condition(wake) : condition(wake, timeoutMs));
    if (!ready() && this.handOverDue()) throw new ContinueAsNewNeeded();
  }

  /** Between phases and stages: hold while paused; a rollback request ends the hold at once. */
  async checkpoint(): Promise<void> {
    this.stopIfRollbackRequested();
    if (this.controls.paused) await this.waitFor(() => !this.controls.paused || this.rollbackRequested());
    this.stopIfRollbackRequested();
  }

  /**
   * Runs a long activity; if the history nears its limit meanwhile (a signal flood), cancels it, waits until
   * it has stopped, and hands over to a new run, which reruns the phase (phases are idempotent).
   */
  async watched<T>(start: () => Promise<T>): Promise<T> {
    if (this.handOverDue()) throw new ContinueAsNewNeeded();
    const scope = new CancellationScope();
    const outcome = scope.run(start).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    let settled = false;
    void outcome.then(() => (settled = true));
    // Not cancellable itself: on a workflow cancel the activity is cancelled and this waits until it stopped.
    await CancellationScope.nonCancellable(() => condition(() => settled || this.handOverDue()));
    const handOver = !settled;
    if (handOver) scope.cancel();
    const result = await outcome;
    if (result.ok) return result.value;
    if (handOver && isCancellation(result.error)) throw new ContinueAsNewNeeded();
    throw result.error;
  }

  private stopIfRollbackRequested(): void {
    const request = this.controls.rollbackRequest;
    if (request) throw new RollbackRequested(request.actor, request.reason);
  }
}
