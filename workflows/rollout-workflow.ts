import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  continueAsNew,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { attributeCancel } from './cancel-attribution';
import { describeHistory } from './history-budget';
import { OperatorControls } from './operator-controls';
import { OperatorInbox } from './operator-inbox';
import { ROLLED_BACK_FAILURE, statusQuery } from './rollout-messages';
import { RolloutJournal } from './rollout-journal';
import { rolloutPhases } from './rollout-phases';
import { rollbackScope } from '../src/plan/rollout-plan';
import { initialStatus, parsePlanOrFail } from './rollout-start';
import type { CarriedState, RampProgress, RolloutInput, RolloutStatus } from './rollout-status';
import { RolloutWaits } from './rollout-waits';
import { runSaga, type SagaProgress } from './saga-runner';
import { UiPresence } from './ui-presence';

/**
 * Drives one rollout through the phases of SPEC §5 (`rolloutPhases`: preflight, backup, key migration,
 * template migration, model seeding, flag ramp), then completes. On failure, cancellation or an operator's
 * rollback, `runSaga` compensates the phases that started in reverse, the flag first. Operator messages
 * (`OperatorInbox`) are checked at the boundary and never copied unbounded; when the history grows large the
 * rollout continues as new with its state.
 */
export async function RolloutWorkflow(input: RolloutInput): Promise<RolloutStatus> {
  const plan = parsePlanOrFail(input);
  const carried: CarriedState | undefined = input.carried;
  const status: RolloutStatus = carried ? carried.status : initialStatus(input, plan);
  const controls = OperatorControls.from(carried?.controls);
  const progress: SagaProgress = {
    finished: new Set(carried?.finished ?? []),
    current: carried?.current ?? null,
    rollback: carried?.rollback ?? null,
  };
  const ramp: RampProgress = { at: carried?.ramp ?? null };
  setHandler(statusQuery, () => status);
  const presence = new UiPresence(status);
  presence.follow();

  const journal = new RolloutJournal(input.rolloutId, status, carried !== undefined);
  const waits = new RolloutWaits(controls);
  const inbox = new OperatorInbox({
    rolloutId: input.rolloutId,
    runId: workflowInfo().runId,
    status,
    controls,
    journal,
    waits,
    unrecorded: carried?.unrecordedIgnored ?? [],
  });
  inbox.listen();
  const phases = rolloutPhases({ input, plan, status, controls, journal, waits }, ramp);

  const continueWithState = async (): Promise<never> => {
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    status.continuedAsNew += 1;
    journal.note(
      'continued_as_new',
      `history at ${describeHistory()}: continuing as a new run with the same state`,
    );
    const state: CarriedState = {
      status,
      controls: controls.carry(),
      finished: [...progress.finished],
      current: progress.current,
      ramp: ramp.at,
      rollback: progress.rollback,
      unrecordedIgnored: inbox.unrecorded,
    };
    return continueAsNew<typeof RolloutWorkflow>({
      rolloutId: input.rolloutId,
      plan: input.plan,
      requestedBy: input.requestedBy,
      carried: state,
    });
  };

  void inbox.flush(); // what the previous run could not write before it handed over
  const end = await runSaga(phases, progress, {
    status,
    journal,
    waits,
    rollbackScope: rollbackScope(plan),
    cancelled: () => attributeCancel(workflowInfo().runId, status, journal),
    complete: async () => {
      journal.enter('complete');
      status.outcome = 'completed';
      await journal.record(
        {
          dedupeKey: 'completed',
          kind: 'completed',
          details: { percent: status.percent },
          phase: 'complete',
          state: 'completed',
        },
        `completed at ${status.percent}%`,
      );
      await inbox.flushBeforeEnd();
      await condition(allHandlersFinished);
      presence.publish();
    },
  });
  if (end.ended === 'completed') return status;
  if (end.ended === 'hand-over') return continueWithState();

  const { undo, failure } = end;
  // A cancelled rollout still writes its last records and ends with the right failure: its end runs outside
  // the cancelled scope (histories recorded before this ended at the first cancelled wait).
  const tailSurvivesCancel = patched('end-tail-non-cancellable');
  const tail = async () => {
    await inbox.flushBeforeEnd();
    await condition(allHandlersFinished);
    // A cancel that arrived while an operator's (or a gate's) rollback ran is still attributed.
    if (CancellationScope.current().consideredCancelled && status.cancelledBy == null)
      await attributeCancel(workflowInfo().runId, status, journal, { keepCause: true });
  };
  if (tailSurvivesCancel) await CancellationScope.nonCancellable(tail);
  else {
    await inbox.flushBeforeEnd();
    await condition(allHandlersFinished);
  }
  presence.publish();
  if (status.outcome === 'rollback_failed') {
    throw ApplicationFailure.nonRetryable(
      `rollback failed after "${undo.cause}": ${status.rollbackFailures.map((f) => `${f.phase}: ${f.error}`).join('; ')}`,
      'RollbackFailed',
      status,
    );
  }
  if (undo.kind === 'requested') {
    // Histories recorded before this ended normally; a rolled-back rollout now ends as failed, so the
    // Temporal UI's list tells it from a completed one at a glance. The final status travels as the details.
    if (!patched('rolled-back-ends-failed')) return status;
    throw ApplicationFailure.create({
      message: `rolled back: ${undo.cause}`,
      type: ROLLED_BACK_FAILURE,
      nonRetryable: true,
      details: [status],
    });
  }
  if (tailSurvivesCancel && undo.kind === 'cancelled' && !isCancellation(failure)) {
    // Cancelled while handing over, or in a continued run: it ends as cancelled (not failed) all the same.
    throw new CancelledFailure('cancelled by an operator; rolled back');
  }
  if (failure !== undefined) throw failure;
  // A continued run has lost the original error object; its cause is kept as text.
  throw ApplicationFailure.nonRetryable(
    undo.kind === 'cancelled' ? 'cancelled by an operator; rolled back' : undo.cause,
    undo.kind === 'cancelled' ? 'Cancelled' : 'RolloutFailed',
  );
}
