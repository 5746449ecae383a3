import type { GateDefinition } from '../../src/gates/gate-definition';
import type { GateMeasurement } from '../../src/gates/gate-measurement';

/** Measurements each gate keeps in its summary (status query, heartbeat); the audit log keeps every one. */
export const MAX_SUMMARY_MEASUREMENTS = 3;

/** One gate's running count over a stage: small and plain JSON (heartbeat details, workflow status). */
export interface GateTally {
  gate: string;
  /** Measurements taken in this stage (all rounds of this activity's run). */
  measured: number;
  failures: number;
  /** Passes since the last fail or inconclusive. */
  consecutivePasses: number;
  /** When the current run of inconclusive measurements began (ms since the epoch), or null. */
  inconclusiveSince: number | null;
  /** The newest few measurements, newest last (each with when it was taken). */
  last: (GateMeasurement & { at: string })[];
}

export function emptyTally(gate: string): GateTally {
  return { gate, measured: 0, failures: 0, consecutivePasses: 0, inconclusiveSince: null, last: [] };
}

/** What one measurement means for the stage: keep going, or hand the decision to the workflow. */
export type TallyDecision = 'continue' | 'failed' | 'inconclusive';

/**
 * Counts a measurement into `tally` (in place) and says whether the gate now needs the workflow: `failed` once
 * its failures reach `failureLimit` (in a row or not), `inconclusive` once inconclusive measurements in a row
 * have lasted `inconclusiveLimit` (0: at the first one).
 */
export function countMeasurement(
  tally: GateTally,
  definition: GateDefinition,
  measurement: GateMeasurement,
  nowMs: number,
): TallyDecision {
  tally.measured += 1;
  tally.last.push({ ...measurement, at: new Date(nowMs).toISOString() });
  if (tally.last.length > MAX_SUMMARY_MEASUREMENTS)
    tally.last.splice(0, tally.last.length - MAX_SUMMARY_MEASUREMENTS);
  switch (measurement.verdict) {
    case 'pass':
      tally.consecutivePasses += 1;
      tally.inconclusiveSince = null;
      return 'continue';
    case 'fail':
      tally.failures += 1;
      tally.consecutivePasses = 0;
      tally.inconclusiveSince = null;
      return tally.failures >= definition.failureLimit ? 'failed' : 'continue';
    case 'inconclusive':
      tally.consecutivePasses = 0;
      tally.inconclusiveSince ??= nowMs;
      return nowMs - tally.inconclusiveSince >= definition.inconclusiveLimit ? 'inconclusive' : 'continue';
  }
}

/** The gate passed the stage: its last `consecutiveSuccesses` measurements passed. */
export function tallyPassed(tally: GateTally, definition: GateDefinition): boolean {
  return tally.consecutivePasses >= definition.consecutiveSuccesses;
}
