import { condition, patched } from '@temporalio/workflow';
import type { StageGatesResult } from '../activities/gates/run-stage-gates-activity';
import type { GateMeasurement } from '../src/gates/gate-measurement';
import { stagePolicy, type StagePolicy } from '../src/plan/rollout-plan';
import { gates as gateCalls } from './activity-proxies';
import { startStoppable } from './stoppable-activity';
import { ContinueAsNewNeeded } from './history-budget';
import { boundedText } from './operator-request';
import type { PhaseContext } from './phases/phase-context';
import { MAX_STATUS_GATE_DETAIL_CHARS, type RampProgress, type RolloutStatus } from './rollout-status';
import type { RolloutWaits } from './rollout-waits';
import { workflowNowIso, workflowNowMs } from './workflow-clock';

/**
 * The `patched()` id of "a run that continued as new during a gate's hold keeps the hold's escalation".
 * Histories from before it waited for an operator alone there.
 */
export const CARRIED_GATE_HOLD_PATCH = 'gate-hold-escalates-after-hand-over';

/** The measurement as an audit row and a status line name it. */
function describeMeasurement(measurement: GateMeasurement): string {
  return `${measurement.verdict}: value ${measurement.value ?? 'none'} vs threshold ${measurement.threshold ?? 'none'}, sample ${measurement.sample ?? 'none'} (${measurement.detail})`;
}

/** The activity's tallies, shortened for the status query (bounded whatever the gates say). */
function showGates(status: RolloutStatus, index: number, result: StageGatesResult): void {
  status.gates = {
    stage: index + 1,
    outcome: result.outcome,
    gates: result.gates.map((tally) => ({
      ...tally,
      last: tally.last.map((m) => ({ ...m, detail: boundedText(m.detail, MAX_STATUS_GATE_DETAIL_CHARS) })),
    })),
  };
}

/**
 * Runs the stage's gates (one `runStageGates` activity) until it returns, or until an operator asks for a
 * rollback (the activity is cancelled and the rollback goes on at once) or the history nears its limit.
 */
async function gatesOrRollback(
  waits: RolloutWaits,
  input: Parameters<typeof gateCalls.runStageGates>[0],
): Promise<StageGatesResult> {
  if (waits.handOverDue()) throw new ContinueAsNewNeeded();
  const soak = startStoppable(() => gateCalls.runStageGates(input));
  await condition(() => soak.settled() || waits.rollbackRequested() || waits.handOverDue());
  if (!soak.settled()) {
    // Not waited for (TRY_CANCEL): the rollback must not wait for a measurement in flight.
    soak.cancel();
    await waits.checkpoint(); // throws RollbackRequested when that is why
    throw new ContinueAsNewNeeded();
  }
  const end = await soak.ended;
  if (end.ok) return end.value;
  throw end.error;
}

/**
 * SPEC §5 phase 6, issue 9: the soak of a stage with gates. The gates measure during the soak (in the
 * activity); the workflow acts on what it returns:
 * - `passed`: the stage is done (the ramp advances);
 * - `failed` with `onFailure: rollback`: a rollback by the gate, through the operator rollback's path (the
 *   flag to 0 % first), its cause `gate_failed` naming the gate and the measurement;
 * - `failed` with `onFailure: hold`, or `inconclusive`: paused at the stage, flag unchanged, the reason in the
 *   status and the audit log; `resume` runs the gates again for the soak that was left; the stage's
 *   `escalateAfter` applies its `onEscalation` (rollback, hold: keep waiting, proceed: as if resumed).
 */
export async function gatedSoak(
  context: PhaseContext,
  ramp: RampProgress,
  index: number,
  soakMs: number,
): Promise<void> {
  const { input, plan, status, controls, journal, waits } = context;
  const policy = stagePolicy(plan, index);
  let remainingMs = soakMs;
  for (;;) {
    const round = ramp.at?.index === index ? (ramp.at.gateRound ?? 0) : 0;
    // A continued run that was holding at this stage holds again before measuring. A gate's hold keeps its
    // escalation (restarted in full: the previous run's timer ended with it); histories from before the
    // patch waited for an operator alone.
    if (
      controls.paused &&
      controls.pausedBy?.startsWith('gate:') &&
      policy.escalation !== null &&
      patched(CARRIED_GATE_HOLD_PATCH)
    ) {
      await awaitOperator(
        context,
        policy,
        `held by ${controls.pausedBy} since before the rollout continued as new`,
        `gate-hold-s${index + 1}-r${Math.max(0, round - 1)}`,
      );
    } else if (controls.paused) await waits.checkpoint();
    const baseline = ramp.at?.baseline;
    const endsAt = workflowNowMs() + remainingMs;
    status.soakEndsAt = workflowNowIso(remainingMs);
    ramp.at = { index, soakRemainingMs: remainingMs, gateRound: round + 1, baseline };
    let result: StageGatesResult;
    try {
      result = await gatesOrRollback(waits, {
        rolloutId: input.rolloutId,
        stage: index,
        percent: policy.percent,
        round,
        gates: policy.gates,
        soakEndsAtMs: endsAt,
      });
    } finally {
      remainingMs = Math.max(0, endsAt - workflowNowMs());
      ramp.at = { index, soakRemainingMs: remainingMs, gateRound: round + 1, baseline };
      status.soakEndsAt = null;
    }
    showGates(status, index, result);
    const keys = `s${index + 1}-r${round}`;
    if (result.outcome === 'passed') {
      await journal.record(
        {
          dedupeKey: `gates-passed-${keys}`,
          kind: 'gates_passed',
          details: {
            stage: index + 1,
            gates: result.gates.map((g) => ({ gate: g.gate, measured: g.measured })),
          },
        },
        `stage ${index + 1}: every gate passed (${result.gates.map((g) => `${g.gate} ${g.measured} measurements`).join(', ')})`,
      );
      return;
    }
    if (result.outcome === 'failed') {
      const reason = `gate_failed: gate ${result.gate} at stage ${index + 1} (${policy.percent}%), ${describeMeasurement(result.measurement)}`;
      await journal.record(
        {
          dedupeKey: `gate-failed-${keys}`,
          kind: 'gate_failed',
          actor: `gate:${result.gate}`,
          details: {
            cause: 'gate_failed',
            gate: result.gate,
            stage: index + 1,
            onFailure: result.onFailure,
            measurement: result.measurement,
            measurementKey: result.auditKey,
          },
        },
        reason,
      );
      if (result.onFailure === 'rollback') {
        // The operator rollback's path: the checkpoint turns the request into the saga's rollback.
        controls.rollbackRequest = { actor: `gate:${result.gate}`, reason };
        await waits.checkpoint();
      }
      await holdForOperator(context, policy, `gate:${result.gate}`, reason, `gate-hold-${keys}`);
      continue;
    }
    await journal.record(
      {
        dedupeKey: `gate-inconclusive-${keys}`,
        kind: 'gate_inconclusive',
        actor: `gate:${result.gate}`,
        details: { gate: result.gate, stage: index + 1, reason: result.reason },
      },
      `stage ${index + 1}: ${result.reason}`,
    );
    await holdForOperator(context, policy, `gate:${result.gate}`, result.reason, `gate-hold-${keys}`);
  }
}

/**
 * Pauses the rollout at the stage (the flag stays where it is) until an operator resumes or rolls back, or the
 * stage's escalation applies its action.
 */
async function holdForOperator(
  context: PhaseContext,
  policy: StagePolicy,
  actor: string,
  reason: string,
  dedupeKey: string,
): Promise<void> {
  const { status, controls, journal } = context;
  controls.setHold(actor, status);
  await journal.record(
    { dedupeKey, kind: 'paused', actor, details: { reason } },
    `paused by ${actor}: ${reason}; resume or roll back`,
  );
  await awaitOperator(context, policy, reason, dedupeKey);
}

/**
 * The wait of a gate's hold: until an operator resumes or rolls back, or the stage's escalation applies its
 * action (rollback; hold: keep waiting, recorded; proceed: as if resumed).
 */
async function awaitOperator(
  context: PhaseContext,
  policy: StagePolicy,
  reason: string,
  dedupeKey: string,
): Promise<void> {
  const { status, controls, journal, waits } = context;
  const escalation = policy.escalation;
  if (escalation !== null) {
    await waits.waitFor(() => !controls.paused || waits.rollbackRequested(), escalation.afterMs);
    if (controls.paused && !waits.rollbackRequested()) {
      const why = `no operator answered within ${escalation.afterMs} ms: ${escalation.action}`;
      await journal.record(
        {
          dedupeKey: `${dedupeKey}-escalated`,
          kind: 'escalated',
          details: { reason, action: escalation.action },
        },
        `escalation: ${why}`,
      );
      // An operator who resumed or rolled back while the record was written wins over the escalation.
      const operatorAnswered =
        (!controls.paused || waits.rollbackRequested()) && patched('escalation-yields-to-operator');
      // The operator's answer, if any, applies at the checkpoint below.
      if (!operatorAnswered && escalation.action !== 'hold') {
        if (escalation.action === 'rollback')
          controls.rollbackRequest = { actor: 'escalation', reason: `escalated (${reason})` };
        // No longer held: it goes on, or rolls back (an ended rollout must not read as paused).
        controls.setHold(null, status);
      }
    }
  }
  await waits.checkpoint();
}
