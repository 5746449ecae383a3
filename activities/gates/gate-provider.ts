import type { GateProviderName } from '../../src/gates/gate-definition';
import { boundedDetail, finiteOrNull, type GateMeasurement } from '../../src/gates/gate-measurement';

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
 * const result = gateResult(null, 0.05); // a provider without state, threshold 0.05
 * return result('fail', 'error ratio above the threshold', 0.2, 400);
 */
export function gateResult<S>(state: S, threshold: number | null) {
  return (
    verdict: GateResult<S>['verdict'],
    detail: string,
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
