import type { GateProviderName } from '../../src/gates/gate-definition';
import type { PassIf } from '../../src/gates/gate-definition';
import { boundedDetail, finiteOrNull, passes, type GateMeasurement } from '../../src/gates/gate-measurement';

/** What the caller tells a measurement besides the previous state. */
export interface MeasureContext {
  /**
   * The stage's soak has ended: this is the stage's last measurement. Only `compare` reads it (its pass
   * before the end is "no regression so far", at the end the stage's verdict).
   */
  soakEnded?: boolean;
  /** Aborts the measurement's reads, e.g. when the activity is cancelled. */
  signal?: AbortSignal;
}

/**
 * A measurement and the running state to hand to the next one. The state is plain JSON (heartbeat details,
 * workflow memory) and small: a provider that needs none returns `null`.
 */
export type GateResult<S> = GateMeasurement & { state: S };

/**
 * One gate provider. `measure(previous)` reads its source once and judges it; `previous` is the state the last
 * measurement returned, or undefined at the start of a stage. A measurement never throws for a source that
 * cannot be read: it says so in an inconclusive (or, for `http`, failed) measurement.
 */
export interface GateProvider<S = unknown> {
  readonly provider: GateProviderName;
  measure(previous: S | undefined, context?: MeasureContext): Promise<GateResult<S>>;
}

/** What providers take from the worker: the environment (for `bearerTokenEnv`, `databaseUrlEnv`) and a clock. */
export interface GateEnvironment {
  env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch; `Date.now` unless a test fixes time. */
  now?: () => number;
}

/**
 * The result a provider returns, with the value and sample made JSON-safe (NaN and ±Inf become null) and the
 * detail bounded. `threshold` is what the value was judged against (null when none applies).
 *
 * @example
 * const result = statefulResult<{ seen: number }>(0.05);
 * return result('fail', 'error ratio above the threshold', { seen: 2 }, 0.2, 400);
 */
export function statefulResult<S>(threshold: number | null) {
  return (
    verdict: GateResult<S>['verdict'],
    detail: string,
    state: S,
    value: number | null = null,
    sample: number | null = null,
  ): GateResult<S> => ({
    verdict,
    value: finiteOrNull(value),
    threshold,
    sample: finiteOrNull(sample),
    detail: boundedDetail(detail),
    state,
  });
}

/**
 * {@link statefulResult} for a provider that keeps no state between measurements.
 *
 * @example
 * const result = gateResult(0.05);
 * return result('fail', 'error ratio above the threshold', 0.2, 400);
 */
export function gateResult(threshold: number | null) {
  const result = statefulResult<null>(threshold);
  return (
    verdict: GateResult<null>['verdict'],
    detail: string,
    value: number | null = null,
    sample: number | null = null,
  ) => result(verdict, detail, null, value, sample);
}

/** A value against a gate's threshold: pass or fail, with the comparison spelled out after `what`. */
export function judgeThreshold(
  gate: { passIf: PassIf; threshold: number },
  value: number,
  what = `value ${value}`,
): { verdict: 'pass' | 'fail'; detail: string } {
  const ok = passes(value, gate.passIf, gate.threshold);
  return {
    verdict: ok ? 'pass' : 'fail',
    detail: `${what} ${ok ? 'within' : 'breaks'} value ${gate.passIf} ${gate.threshold}`,
  };
}
