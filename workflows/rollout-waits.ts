import { CancellationScope, condition, isCancellation, patched } from '@temporalio/workflow';
import type { RollbackScope } from '../src/plan/rollout-plan';
import { ContinueAsNewNeeded, historyNearLimit } from './history-budget';
import { startStoppable } from './stoppable-activity';
import type { OperatorControls } from './operator-controls';

/**
 * The `patched()` id of "a rollback request interrupts a running data phase". Histories recorded before it
 * let the phase run to its end; replaying them keeps doing so.
 */
export const ROLLBACK_INTERRUPTS_PHASE_PATCH = 'rollback-interrupts-data-phase';

/** Thrown at the next checkpoint (or out of a watched data phase) after a rollback was asked for. */
export class RollbackRequested extends Error {
  constructor(
    actor: string,
    reason: string,
    /** What the request asked to undo; undefined: the plan's `rollback.scope`. */
    readonly scope?: RollbackScope,
  ) {
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
  /**
   * On once the saga compensates: the restores it watches are the rollback itself, so a rollback request
   * must not interrupt them.
   */
  compensating = false;

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
   * Runs a long activity (a data phase, a backup, a restore). Two things cut it short; each cancels the
   * activity and waits until it has stopped (the data phases stop at their next batch boundary, having
   * heard of the cancellation through their heartbeat), so nothing runs beside it afterwards:
   * - the history nears its limit (a signal flood): hands over to a new run, which reruns the phase (phases
   *   are idempotent);
   * - a rollback request (not while compensating): throws {@link RollbackRequested}, so the saga undoes the
   *   interrupted phase with the others. An activity that finished before the cancellation reached it
   *   returns normally; the next checkpoint rolls back.
   */
  async watched<T>(start: () => Promise<T>): Promise<T> {
    if (this.handOverDue()) throw new ContinueAsNewNeeded();
    const activity = startStoppable(start);
    const settled = activity.settled;
    const interruptible = () => !this.compensating && this.rollbackRequested();
    let interrupted = false;
    // Not cancellable itself: on a workflow cancel the activity is cancelled and this waits until it stopped.
    await CancellationScope.nonCancellable(async () => {
      await condition(() => settled() || this.handOverDue() || interruptible());
      if (settled() || this.handOverDue()) return;
      // Woken by a rollback request. A history from before this behaviour let the phase finish: so does its replay.
      if (patched(ROLLBACK_INTERRUPTS_PHASE_PATCH)) interrupted = true;
      else await condition(() => settled() || this.handOverDue());
    });
    const handOver = !settled() && !interrupted;
    if (!settled()) activity.cancel();
    const result = await activity.ended;
    if (result.ok) return result.value;
    if (isCancellation(result.error)) {
      if (interrupted) this.stopIfRollbackRequested();
      if (handOver) throw new ContinueAsNewNeeded();
    }
    throw result.error;
  }

  private stopIfRollbackRequested(): void {
    const request = this.controls.rollbackRequest;
    if (request) throw new RollbackRequested(request.actor, request.reason, request.scope);
  }
}
