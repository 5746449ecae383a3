import {
  allHandlersFinished,
  CancellationScope,
  condition,
  isCancellation,
  patched,
} from '@temporalio/workflow';
import { errorText } from './failure-text';
import { ContinueAsNewNeeded } from './history-budget';
import type { RolloutJournal } from './rollout-journal';
import type { RollbackScope } from '../src/plan/rollout-plan';
import type { CarriedRollback, RolloutPhase, RolloutStatus } from './rollout-status';
import { RollbackRequested, type RolloutWaits } from './rollout-waits';

/** One phase as the saga sees it: its work and, for phases that change something, how to undo it. */
export interface SagaStep {
  name: RolloutPhase;
  /** Off when the plan leaves the phase out. */
  enabled?: boolean;
  /** Registered before `run` starts, so a failure or cancellation mid-phase still undoes it. */
  compensate?: () => Promise<void>;
  run: () => Promise<void>;
}

/** Where the saga stands; a run that continues as new hands it on (see `CarriedState`). */
export interface SagaProgress {
  /** Phases whose work finished (their compensations are registered). */
  finished: Set<RolloutPhase>;
  /** The phase running now (its compensation is registered too); a continued run reruns it. */
  current: RolloutPhase | null;
  /** Set once a rollback began: its cause and the compensations still to run. */
  rollback: CarriedRollback | null;
}

export interface SagaHost {
  status: RolloutStatus;
  journal: RolloutJournal;
  waits: RolloutWaits;
  /** After the last phase and its checkpoint: the rollout's own end (outcome, audit row). */
  complete: () => Promise<void>;
  /**
   * The plan's `rollback.scope`: what a requested rollback undoes when the request names no scope (a failed
   * gate's, an escalation's, an operator's without `scope`): `full` every started phase, `flag` only the ramp,
   * leaving migrated data in place. A failure or a cancellation always undoes all.
   */
  rollbackScope: RollbackScope;
  /**
   * Once a cancel is seen, before anything is undone: records who cancelled (the request's identity and reason
   * are in Temporal's history, not in the workflow), so the audit log names the canceller first.
   */
  cancelled?: () => Promise<void>;
}

export type SagaEnd =
  | { ended: 'completed' }
  /** The history is near its limit: continue as new with the progress. */
  | { ended: 'hand-over' }
  /** Compensated (or nothing to undo); `failure` is the error that started it, when this run saw it. */
  | { ended: 'rolled-back'; undo: CarriedRollback; failure: unknown };

/**
 * Runs the steps in order, each after a checkpoint (pause, rollback request) but the first. On a failure, a
 * cancellation or an operator's rollback, runs the compensations of the steps that started in reverse (the
 * flag first, as the ramp is last); each runs even when an earlier one failed, and a rollback that could not
 * finish ends as `rollback_failed` with what is left undone.
 */
export async function runSaga(
  steps: readonly SagaStep[],
  progress: SagaProgress,
  host: SagaHost,
): Promise<SagaEnd> {
  let failure: unknown;
  if (progress.rollback === null) {
    try {
      await runForward(steps, progress, host);
      return { ended: 'completed' };
    } catch (error) {
      let cancelled = isCancellation(error) || CancellationScope.current().consideredCancelled;
      if (error instanceof ContinueAsNewNeeded && !cancelled) {
        if (!patched('cancel-before-hand-over')) return { ended: 'hand-over' };
        // A cancel that arrives while the handlers finish must not be carried into a new run, which would
        // never see it: the rollout rolls back here instead.
        await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
        cancelled = CancellationScope.current().consideredCancelled;
        if (!cancelled) return { ended: 'hand-over' };
      }
      failure = error;
      progress.rollback = planRollback(steps, progress, error, cancelled, host.rollbackScope);
      host.status.error = progress.rollback.cause;
      if (cancelled && host.cancelled) await CancellationScope.nonCancellable(host.cancelled);
    }
  }
  const undo = progress.rollback;
  if (undo.kind === 'cancelled') host.waits.mayHandOver = false;
  host.waits.compensating = true;
  // Compensation must finish even when the workflow itself is being cancelled.
  const handOver = await CancellationScope.nonCancellable(() => compensate(steps, undo, host));
  return handOver ? { ended: 'hand-over' } : { ended: 'rolled-back', undo, failure };
}

async function runForward(steps: readonly SagaStep[], progress: SagaProgress, host: SagaHost) {
  for (const step of steps) {
    if (step.enabled === false || progress.finished.has(step.name)) continue;
    if (step.name !== progress.current) {
      // A pause or a rollback request takes effect between steps, never inside one.
      if (step !== steps[0]) await host.waits.checkpoint();
      progress.current = step.name;
    }
    host.journal.enter(step.name);
    await step.run();
    progress.finished.add(step.name);
    progress.current = null;
  }
  await host.waits.checkpoint();
  await host.complete();
}

function planRollback(
  steps: readonly SagaStep[],
  progress: SagaProgress,
  error: unknown,
  cancelled: boolean,
  planScope: RollbackScope,
): CarriedRollback {
  const requested = error instanceof RollbackRequested;
  // The request's scope when an operator named one, else the plan's; a failure or a cancel undoes everything.
  const scope: RollbackScope = requested && !cancelled ? (error.scope ?? planScope) : 'full';
  const started = (step: SagaStep) => progress.finished.has(step.name) || progress.current === step.name;
  // Scope flag keeps the data phases that finished. The ramp is undone, and so is a data phase the rollback
  // interrupted (the current one, not finished): half a migration is neither the old data nor the new.
  const undone = (step: SagaStep) =>
    scope === 'full' || step.name === 'ramp' || !progress.finished.has(step.name);
  // In reverse step order: the ramp (the flag) first, then the data phases.
  const remaining = [...steps]
    .reverse()
    .filter((step) => started(step) && step.compensate && undone(step))
    .map((step) => step.name);
  return {
    cause: cancelled ? 'cancelled' : errorText(error),
    kind: cancelled ? 'cancelled' : requested ? 'requested' : 'failure',
    scope,
    remaining,
    // An operator's rollback before anything changed is still a rollback; only a failure with nothing
    // to undo is plainly `failed`.
    outcome: cancelled ? 'cancelled' : requested || remaining.length > 0 ? 'rolled_back' : 'failed',
  };
}

/** Runs the compensations still to do; true when the run must hand over to a new one first. */
async function compensate(steps: readonly SagaStep[], undo: CarriedRollback, host: SagaHost) {
  const { status, journal, waits } = host;
  // The operator's own record of the rollback (a handler, a few attempts at most) comes before the
  // rollback's records, so the audit log reads in the order things were decided.
  await condition(allHandlersFinished);
  if (status.paused && patched('rollback-clears-pause')) {
    // A rollback ends any hold: an ended rollout must not read (or be listed) as paused.
    status.paused = false;
    status.pausedBy = null;
  }
  if (undo.remaining.length > 0 && status.phase !== 'rollback') {
    journal.enter('rollback');
    await journal.record(
      {
        dedupeKey: 'rollback-started',
        kind: 'rollback_started',
        details: { cause: undo.cause, scope: undo.scope ?? 'full', undo: undo.remaining },
        phase: 'rollback',
      },
      `rolling back (scope ${undo.scope ?? 'full'}: ${undo.remaining.join(', ')}): ${undo.cause}`,
    );
  }
  for (let phase = undo.remaining[0]; phase !== undefined; phase = undo.remaining[0]) {
    if (waits.handOverDue()) return true;
    try {
      await steps.find((step) => step.name === phase)!.compensate!();
    } catch (error) {
      if (error instanceof ContinueAsNewNeeded) return true;
      // Every later compensation still runs; this one is reported as left undone.
      const message = errorText(error);
      status.rollbackFailures.push({ phase, error: message });
      await journal.record(
        {
          dedupeKey: `compensation-failed-${phase}`,
          kind: 'compensation_failed',
          details: { phase, error: message },
        },
        `undoing ${phase} failed: ${message}`,
      );
    }
    undo.remaining.shift();
  }
  const outcome = status.rollbackFailures.length > 0 ? 'rollback_failed' : undo.outcome;
  status.outcome = outcome;
  if (outcome === 'rollback_failed') {
    status.operatorAction =
      `left undone: ${status.rollbackFailures.map((f) => f.phase).join(', ')}. ` +
      'Fix the cause named in each failure, then restore by hand (README, "A rollback_failed rollout"); ' +
      'the run is released, so a new rollout of this flag can start once the data is right.';
  }
  await journal.record(
    { dedupeKey: 'ended', kind: outcome, details: { cause: undo.cause }, state: outcome },
    `ended ${outcome}`,
  );
  return false;
}
