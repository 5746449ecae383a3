import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { appendAuditEvent } from '../../db/audit-events';
import type { GateDefinition } from '../../src/gates/gate-definition';
import type { GateMeasurement } from '../../src/gates/gate-measurement';
import type { ActivityDeps } from '../activity-deps';
import { ActivityMetrics } from '../metrics/activity-metrics';
import { recordGateMeasurement } from '../metrics/gate-metrics';
import { rolloutMetricLabels } from '../metrics/rollout-labels';
import { createGateProvider } from './create-gate-provider';
import type { GateEnvironment } from './gate-provider';
import { countMeasurement, emptyTally, tallyPassed, type GateTally } from './stage-gate-tally';

export interface RunStageGatesInput {
  rolloutId: string;
  /** Index of the stage (0-based); stage numbers in the audit log are 1-based. */
  stage: number;
  percent: number;
  /**
   * How many times the workflow started the gates of this stage before (a hold resumed, a hand-over to a new
   * run): part of every audit key, so a new round never collides with an earlier one.
   */
  round: number;
  gates: { name: string; definition: GateDefinition }[];
  /** When the soak ends, in ms since the epoch (the workflow's clock), the same for every retry. */
  soakEndsAtMs: number;
}

export type StageGatesResult =
  /** The soak is over and every gate's last `consecutiveSuccesses` measurements passed. */
  | { outcome: 'passed'; gates: GateTally[] }
  /** A gate reached its `failureLimit`: apply its `onFailure` now. */
  | {
      outcome: 'failed';
      gate: string;
      onFailure: 'rollback' | 'hold';
      measurement: GateMeasurement;
      /** The measurement's audit key. */
      auditKey: string;
      gates: GateTally[];
    }
  /** A gate stayed inconclusive for its `inconclusiveLimit` (or never reached its passes after the soak). */
  | { outcome: 'inconclusive'; gate: string; reason: string; gates: GateTally[] };

/** What a retried attempt (a worker that crashed) takes over from the last heartbeat. */
interface GatesHeartbeat {
  gates: { tally: GateTally; state: unknown; sequence: number; nextAtMs: number; finalTaken: boolean }[];
}

/** Heartbeat and cancellation check at least this often while waiting for the next measurement. */
const TICK_MS = 1_000;

/** The audit key of one measurement: unique per stage, round, gate and sequence (`#` is not in gate names). */
function auditKeyPrefix(input: RunStageGatesInput, gate: string): string {
  return `gate-s${input.stage + 1}-r${input.round}-${gate}#`;
}

/**
 * SPEC §5, issue 9: the soak of one gated stage. Measures every gate once per its interval until the soak
 * ends, writes every measurement to the audit log (actor `gate:<name>`), heartbeats the running tallies
 * (resumed from them after a retry), and returns as soon as the workflow must act: a gate failed, a gate stayed
 * inconclusive too long, or the stage passed. One activity for the whole soak keeps the workflow's history
 * bounded whatever the soak and interval. Cancellation (a rollback) stops it between measurements and aborts
 * a read in flight. Each measurement also goes to the worker's metrics (`rollout_gate_*`, by flag, environment
 * and gate). Providers read named settings from `deps.env`; time is `deps.clock` (real time when absent).
 */
export async function runStageGates(
  deps: Pick<ActivityDeps, 'db' | 'logger' | 'env' | 'clock'>,
  input: RunStageGatesInput,
): Promise<StageGatesResult> {
  const context = Context.current();
  const clock = deps.clock;
  const now = clock ? () => clock.now() : Date.now;
  const sleep = clock
    ? (ms: number) => clock.sleep(ms, context.cancellationSignal)
    : (ms: number) => context.sleep(ms);
  const environment: GateEnvironment = { env: deps.env ?? {}, now };
  const metrics = new ActivityMetrics(context.metricMeter, (error) =>
    deps.logger.warn({ err: error, rolloutId: input.rolloutId }, 'a gate metric could not be emitted'),
  );
  const labels = await rolloutMetricLabels(deps.db, input.rolloutId);
  const resumed = context.info.heartbeatDetails as GatesHeartbeat | undefined;
  const running = await Promise.all(
    input.gates.map(async ({ name, definition }, index) => {
      const carried = resumed?.gates[index];
      const sequence = carried?.tally.gate === name ? carried.sequence : 0;
      return {
        name,
        definition,
        provider: createGateProvider(definition, environment),
        tally: carried?.tally.gate === name ? carried.tally : emptyTally(name),
        state: carried?.tally.gate === name ? carried.state : undefined,
        // Measurements written after the last heartbeat an earlier attempt sent keep their keys.
        sequence:
          context.info.attempt > 1 ? Math.max(sequence, await nextSequence(deps, input, name)) : sequence,
        nextAtMs: carried?.tally.gate === name ? carried.nextAtMs : 0,
        finalTaken: carried?.tally.gate === name ? carried.finalTaken : false,
      };
    }),
  );
  const tallies = () => running.map((gate) => gate.tally);
  const heartbeat = () =>
    context.heartbeat({
      gates: running.map(({ tally, state, sequence, nextAtMs, finalTaken }) => ({
        tally,
        state,
        sequence,
        nextAtMs,
        finalTaken,
      })),
    } satisfies GatesHeartbeat);
  // After the soak, a gate short of its passes may measure on for this long before the stage is inconclusive.
  const graceMs = Math.max(
    0,
    ...input.gates.map(
      ({ definition: d }) => d.interval * (d.consecutiveSuccesses + 1) + d.inconclusiveLimit,
    ),
  );

  for (;;) {
    if (context.cancellationSignal.aborted) throw new CancelledFailure('gates cancelled');
    const startedAt = now();
    const soakEnded = startedAt >= input.soakEndsAtMs;
    const isCompare = (gate: (typeof running)[number]) => gate.definition.provider === 'compare';
    if (
      soakEnded &&
      running.every(
        (gate) => tallyPassed(gate.tally, gate.definition) && (!isCompare(gate) || gate.finalTaken),
      )
    ) {
      heartbeat();
      return { outcome: 'passed', gates: tallies() };
    }
    const due = running.filter(
      (gate) =>
        (!soakEnded || !tallyPassed(gate.tally, gate.definition) || (isCompare(gate) && !gate.finalTaken)) &&
        (gate.nextAtMs <= startedAt || (soakEnded && isCompare(gate) && !gate.finalTaken)),
    );
    if (due.length === 0) {
      if (soakEnded && startedAt >= input.soakEndsAtMs + graceMs) {
        const short = running.find((gate) => !tallyPassed(gate.tally, gate.definition))!;
        return {
          outcome: 'inconclusive',
          gate: short.name,
          reason: `gate ${short.name} did not reach ${short.definition.consecutiveSuccesses} passing measurements in a row by the end of the soak`,
          gates: tallies(),
        };
      }
      const wakeAt = Math.min(
        ...running.map((gate) => gate.nextAtMs),
        soakEnded ? Number.POSITIVE_INFINITY : input.soakEndsAtMs,
      );
      heartbeat();
      await sleep(Math.max(1, Math.min(TICK_MS, wakeAt - startedAt)));
      continue;
    }
    const results = await Promise.all(
      due.map((gate) => gate.provider.measure(gate.state, { soakEnded, signal: context.cancellationSignal })),
    );
    if (context.cancellationSignal.aborted) throw new CancelledFailure('gates cancelled');
    for (const [index, gate] of due.entries()) {
      const { state, ...measurement } = results[index]!;
      gate.state = state;
      gate.nextAtMs = startedAt + gate.definition.interval;
      if (soakEnded && isCompare(gate)) gate.finalTaken = true;
      const auditKey = `${auditKeyPrefix(input, gate.name)}${gate.sequence}`;
      gate.sequence += 1;
      await appendAuditEvent(deps.db, {
        rolloutId: input.rolloutId,
        dedupeKey: auditKey,
        actor: `gate:${gate.name}`,
        kind: 'gate_measurement',
        details: {
          gate: gate.name,
          provider: gate.definition.provider,
          stage: input.stage + 1,
          percent: input.percent,
          soakEnded,
          ...measurement,
        },
      });
      if (labels) recordGateMeasurement(metrics, labels, gate.name, measurement);
      const decision = countMeasurement(gate.tally, gate.definition, measurement, now());
      if (decision === 'failed') {
        heartbeat();
        return {
          outcome: 'failed',
          gate: gate.name,
          onFailure: gate.definition.onFailure,
          measurement,
          auditKey,
          gates: tallies(),
        };
      }
      if (decision === 'inconclusive') {
        heartbeat();
        return {
          outcome: 'inconclusive',
          gate: gate.name,
          reason: `gate ${gate.name} inconclusive since ${new Date(gate.tally.inconclusiveSince!).toISOString()}: ${measurement.detail}`,
          gates: tallies(),
        };
      }
    }
    heartbeat();
  }
}

/** The sequence after the highest one of `gate` already in the audit log for this stage and round. */
async function nextSequence(
  deps: Pick<ActivityDeps, 'db'>,
  input: RunStageGatesInput,
  gate: string,
): Promise<number> {
  const prefix = auditKeyPrefix(input, gate);
  const rows = await deps.db
    .selectFrom('rollout_audit_events')
    .select('dedupe_key')
    .where('rollout_id', '=', input.rolloutId)
    .where(sql<boolean>`starts_with(dedupe_key, ${prefix})`)
    .execute();
  return rows.reduce((next, row) => Math.max(next, Number(row.dedupe_key.slice(prefix.length)) + 1), 0);
}
