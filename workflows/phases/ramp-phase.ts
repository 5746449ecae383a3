import { stagePolicy } from '../../src/plan/rollout-plan';
import { calls } from '../activity-proxies';
import type { RampProgress } from '../rollout-status';
import type { SagaStep } from '../saga-runner';
import { gatedSoak } from '../stage-gates';
import { workflowNowIso, workflowNowMs } from '../workflow-clock';
import type { PhaseContext } from './phase-context';

/**
 * SPEC §5 phase 6: each stage in turn waits at a checkpoint (pause, rollback) and for an operator's approval
 * when the plan asks for one, sets the flag's percent and reads it back, then soaks (with its gates measuring,
 * see `gatedSoak`, when it has any). Compensation: the flag
 * to 0 %, retried until Unleash confirms it (the first compensation of any rollback, as the ramp is last).
 */
export function rampPhase(context: PhaseContext, ramp: RampProgress): SagaStep {
  const { plan, journal } = context;
  const target = { project: plan.unleash.project, environment: plan.unleash.environment, flag: plan.flag };

  /** Approval (when the plan asks for it), then the stage's percent, confirmed by Unleash. */
  const reachStage = async (index: number) => {
    const { status, controls, waits } = context;
    const stage = plan.stages[index]!;
    ramp.at = { index, soakRemainingMs: null };
    await waits.checkpoint();
    if (stage.approval && !controls.approved.has(index)) {
      status.awaitingApproval = index;
      journal.note(
        'awaiting_approval',
        `stage ${index + 1} (${stage.percent}%) waits for an operator's approval`,
      );
      await waits.waitFor(() => controls.approved.has(index) || waits.rollbackRequested());
      status.awaitingApproval = null;
      await waits.checkpoint();
    }
    const readback = await calls.setFlagPercent({ target, percent: stage.percent });
    status.stageIndex = index;
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

  /** A rollback request cuts the soak short; a pause lets it finish and holds at the next checkpoint. */
  const soak = async (index: number, soakMs: number) => {
    const { status, waits } = context;
    const endsAt = workflowNowMs() + soakMs;
    status.soakEndsAt = workflowNowIso(soakMs);
    ramp.at = { index, soakRemainingMs: soakMs };
    try {
      await waits.waitFor(() => waits.rollbackRequested(), soakMs);
    } finally {
      ramp.at = { index, soakRemainingMs: Math.max(0, endsAt - workflowNowMs()) };
    }
    status.soakEndsAt = null;
  };

  return {
    name: 'ramp',
    compensate: async () => {
      journal.note('flag_rollback', 'setting the flag to 0% (retried until Unleash confirms it)');
      await calls.setFlagPercent({ target, percent: 0 });
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
