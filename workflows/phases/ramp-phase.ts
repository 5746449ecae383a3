import { patched } from '@temporalio/workflow';
import { stagePolicy } from '../../src/plan/rollout-plan';
import { describeDrift } from '../../src/unleash/strategy-drift';
import { calls } from '../activity-proxies';
import type { CarriedState, RampProgress } from '../rollout-status';
import type { SagaStep } from '../saga-runner';
import { gatedSoak } from '../stage-gates';
import { workflowNowIso, workflowNowMs } from '../workflow-clock';
import { FLAG_ROLLBACK_ROUNDS_PATCH, setFlagToZeroUntilConfirmed } from './flag-rollback';
import { inUnleashRounds, type RoundProxy } from './unleash-rounds';
import type { PhaseContext } from './phase-context';

type RampAt = NonNullable<CarriedState['ramp']>;

/**
 * The `patched()` id of the ramp's Unleash calls in rounds (`untilUnleashAnswers`). Histories recorded before it
 * (each call retried by Temporal until Unleash answered) replay on the old path.
 */
export const UNLEASH_ROUNDS_PATCH = 'ramp-unleash-rounds';

/** Kind of the status event (and audit row) that says a stage waits for Unleash. */
export const UNLEASH_UNREACHABLE = 'unleash_unreachable';

/**
 * SPEC §5 phase 6: each stage in turn waits at a checkpoint (pause, rollback) and for an operator's approval
 * when the plan asks for one, checks the flag for hand edits since the last stage (the drift guard), writes the
 * stage's percent and reads it back (while Unleash does not answer, the stage waits and the status says so),
 * then soaks (with its gates measuring,
 * see `gatedSoak`, when it has any). Compensation: the flag
 * to 0 %, retried until Unleash confirms it, the status saying so meanwhile (`setFlagToZeroUntilConfirmed`; the
 * first compensation of any rollback, as the ramp is last).
 */
export function rampPhase(context: PhaseContext, ramp: RampProgress): SagaStep {
  const { plan, journal } = context;
  const target = { project: plan.unleash.project, environment: plan.unleash.environment, flag: plan.flag };

  /**
   * An Unleash call before stage `index` (the drift read, the write and its read-back) in rounds: while Unleash
   * does not answer the stage waits (no stage advances unconfirmed), the status says why (`operatorAction`, one
   * `unleash_unreachable` event with the attempts and the last error, one audit row), and a rollback request
   * ends the wait at once.
   */
  const untilUnleashAnswers = <T>(index: number, what: string, call: (proxy: RoundProxy) => Promise<T>) => {
    const stage = plan.stages[index]!;
    return inUnleashRounds(
      context,
      {
        kind: UNLEASH_UNREACHABLE,
        dedupeKey: `unleash-unreachable-s${index + 1}-${what.replace(/ /g, '-')}`,
        details: { stage: index + 1, percent: stage.percent, call: what },
        describe: ({ attempts, since, lastError }) => ({
          message:
            `stage ${index + 1} (${stage.percent}%) waits for Unleash: ${attempts} attempts to ${what} the flag ` +
            `failed since ${since}, the last with: ${lastError}; the rollout stays at the last confirmed stage ` +
            'and retries until Unleash answers',
          action:
            `Unleash does not answer (${attempts} attempts, last error: ${lastError}): bring it back and the ` +
            `rollout goes on to stage ${index + 1} (${stage.percent}%) by itself, or roll back.`,
        }),
      },
      call,
      { interruptible: true },
    );
  };

  /**
   * An approval nobody gives within the stage's `escalateAfter` applies its `onEscalation`: `rollback` (the
   * plan's scope), `proceed` (as if approved, recorded as the escalation's), `hold` (recorded, still waiting).
   * Histories recorded before this waited for a person alone (`patched`).
   */
  const escalateApproval = async (index: number) => {
    const { controls, waits } = context;
    const { escalation, percent } = stagePolicy(plan, index);
    if (escalation === null || !patched('approval-escalation')) return;
    const answered = () => controls.approved.has(index) || waits.rollbackRequested();
    const yields = patched('escalation-yields-to-operator');
    await waits.waitFor(answered, escalation.afterMs);
    // A pause during the wait is an operator at work: the escalation waits for the resume, then starts over.
    while (yields && !answered() && controls.paused) {
      await waits.waitFor(() => answered() || !controls.paused);
      if (!answered()) await waits.waitFor(answered, escalation.afterMs);
    }
    if (answered()) return;
    const reason = `stage ${index + 1} (${percent}%) waited ${escalation.afterMs} ms for an approval`;
    await journal.record(
      {
        dedupeKey: `approval-s${index + 1}-escalated`,
        kind: 'escalated',
        actor: 'escalation',
        details: { stage: index + 1, reason, action: escalation.action },
      },
      `escalation: ${reason}: ${escalation.action}`,
    );
    // An operator who answered while the record was written wins over the escalation.
    if (yields && answered()) return;
    if (escalation.action === 'rollback') {
      controls.rollbackRequest = { actor: 'escalation', reason: `escalated (${reason})` };
    } else if (escalation.action === 'proceed') {
      controls.approved.add(index);
    }
  };

  /** Approval (when the plan asks for it), then the stage's percent, confirmed by Unleash. */
  const reachStage = async (index: number) => {
    const { status, controls, waits } = context;
    const stage = plan.stages[index]!;
    const baseline = ramp.at?.baseline;
    ramp.at = { index, soakRemainingMs: null, baseline };
    await waits.checkpoint();
    if (stage.approval && !controls.approved.has(index)) {
      status.awaitingApprovalStage = index + 1;
      journal.note(
        'awaiting_approval',
        `stage ${index + 1} (${stage.percent}%) waits for an operator's approval`,
      );
      try {
        await escalateApproval(index);
        await waits.waitFor(() => controls.approved.has(index) || waits.rollbackRequested());
      } finally {
        // Also when a cancel ends the wait: an ended rollout must not read as waiting for approval.
        status.awaitingApprovalStage = null;
      }
      await waits.checkpoint();
    }
    // Rounds of bounded attempts, so the status says while Unleash does not answer and a rollback request ends
    // the wait; histories recorded before the patch keep their calls retried by Temporal alone.
    const inRounds = patched(UNLEASH_ROUNDS_PATCH);
    if (baseline) await guardAgainstDrift(index, baseline, inRounds);
    const written = inRounds
      ? await untilUnleashAnswers(index, 'write and confirm', (proxy) =>
          proxy.writeFlagPercent({ target, percent: stage.percent }),
        )
      : await calls.writeFlagPercent({ target, percent: stage.percent });
    const readback = written.readback;
    ramp.at = { index, soakRemainingMs: null, baseline: written.baseline };
    status.stageIndex = index;
    status.stage = index + 1;
    journal.confirmPercent(readback.percent);
    await journal.record(
      {
        dedupeKey: `stage-${index}-reached`,
        kind: 'stage_reached',
        details: { stage: index + 1, percent: readback.percent, strategyId: readback.strategyId },
        phase: 'ramp',
        percent: readback.percent,
      },
      `stage ${index + 1}/${plan.stages.length}: Unleash confirms ${readback.percent}%`,
    );
  };

  /**
   * The drift guard: before the next stage's write, the flag's strategy must be as the rollout left it. A hand
   * edit (percent, groupId, stickiness, constraints, variants, segments, another strategy) pauses the rollout
   * with the difference; `resume` lets the next write replace the edit, `rollback` undoes the rollout.
   */
  const guardAgainstDrift = async (
    index: number,
    baseline: NonNullable<RampAt['baseline']>,
    inRounds: boolean,
  ) => {
    const { status, controls, waits } = context;
    const { differences } = inRounds
      ? await untilUnleashAnswers(index, 'read back', (proxy) => proxy.checkFlagDrift({ target, baseline }))
      : await calls.checkFlagDrift({ target, baseline });
    if (differences.length === 0) return;
    const reason = `the flag's strategy was edited outside the rollout: ${describeDrift(differences)}`;
    controls.setHold('drift-guard', status);
    await journal.record(
      {
        dedupeKey: `flag-drift-s${index + 1}`,
        kind: 'flag_drift',
        actor: 'drift-guard',
        details: { stage: index + 1, differences },
      },
      `before stage ${index + 1}: ${reason}; paused (resume to overwrite the edit, or roll back)`,
    );
    await waits.checkpoint();
  };

  /** A rollback request cuts the soak short; a pause lets it finish and holds at the next checkpoint. */
  const soak = async (index: number, soakMs: number) => {
    const { status, waits } = context;
    const endsAt = workflowNowMs() + soakMs;
    status.soakEndsAt = workflowNowIso(soakMs);
    const baseline = ramp.at?.baseline;
    ramp.at = { index, soakRemainingMs: soakMs, baseline };
    try {
      await waits.waitFor(() => waits.rollbackRequested(), soakMs);
    } finally {
      ramp.at = { index, soakRemainingMs: Math.max(0, endsAt - workflowNowMs()), baseline };
      // Also when a cancel or a hand-over ends the soak: the status must not promise a soak that stopped.
      status.soakEndsAt = null;
    }
  };

  return {
    name: 'ramp',
    compensate: async () => {
      journal.note('flag_rollback', 'setting the flag to 0% (retried until Unleash confirms it)');
      // Rounds of bounded attempts, so the status says while Unleash does not confirm; histories recorded
      // before the patch keep their single, endlessly retried call.
      if (patched(FLAG_ROLLBACK_ROUNDS_PATCH)) await setFlagToZeroUntilConfirmed(context, target);
      else await calls.setFlagPercent({ target, percent: 0 });
      journal.confirmPercent(0);
      await journal.record(
        { dedupeKey: 'flag-rolled-back', kind: 'flag_rolled_back', details: { percent: 0 }, percent: 0 },
        'flag set to 0% and confirmed',
      );
    },
    run: async () => {
      const from = ramp.at?.index ?? 0;
      for (let index = from; index < plan.stages.length; index++) {
        let soakMs = plan.stages[index]!.soak;
        if (index === from && ramp.at?.soakRemainingMs != null) {
          // A continued run: this stage's percent was confirmed by the previous run; only its soak is left.
          soakMs = ramp.at.soakRemainingMs;
        } else {
          await reachStage(index);
        }
        // A stage with gates soaks while they measure and advances only when every gate passed; a stage
        // without gates soaks on its timer alone.
        if (stagePolicy(plan, index).gates.length > 0) await gatedSoak(context, ramp, index, soakMs);
        else if (soakMs > 0) await soak(index, soakMs);
      }
    },
  };
}
