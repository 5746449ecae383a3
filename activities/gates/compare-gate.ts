import {
  compareDecision,
  compareEvidence,
  initialCompareState,
  observedRatio,
  updateCompareTest,
  type CompareCounts,
  type CompareTestState,
} from '../../src/gates/compare-test';
import { counterIncreases, seriesKey, type CounterValues } from '../../src/gates/counter-increase';
import type { CompareGate } from '../../src/gates/gate-definition';
import { compileMatchers, parseSeriesSelector } from '../../src/gates/series-selector';
import { processStartTime, restartedSince, scrapeGateEndpoint, type ExpositionSample } from './exposition';
import { statefulResult } from './gate-provider';
import type { GateEnvironment, GateProvider, GateResult, MeasureContext } from './gate-provider';

/** What a compare gate carries between measurements. */
export interface CompareGateState {
  /** Last counter value per followed series (hashed keys), for increases across restarts. */
  counters: CounterValues;
  /** False until a first scrape succeeded: increases start from there. */
  baselineTaken: boolean;
  test: CompareTestState;
  /** Counter resets seen in the stage (service restarts). */
  resets: number;
  /** The target's `process_start_time_seconds` at the last scrape, when it exposes one. */
  processStart?: number;
}

const percent = (failures: number, requests: number): string =>
  requests > 0 ? `${((100 * failures) / requests).toFixed(2)} %` : 'n/a';

const number = (value: number): string =>
  Number.isInteger(value) ? value.toLocaleString('en-US') : value.toPrecision(4);

/**
 * Sums one scrape's counter increases into the two paths' requests and failures. Series of other paths
 * (e.g. `none`) and other metrics are not followed.
 */
function classify(gate: CompareGate, samples: ExpositionSample[]) {
  const selected = compileMatchers(parseSeriesSelector(gate.select).matchers);
  const isFailure = compileMatchers(parseSeriesSelector(gate.failure).matchers);
  const values = new Map<string, number>();
  const classes = new Map<string, { canary: boolean; failure: boolean }>();
  for (const sample of samples) {
    if (sample.name !== gate.metric || !selected(sample.labels)) continue;
    const path = sample.labels[gate.splitLabel];
    if (path !== gate.canary && path !== gate.baseline) continue;
    const key = seriesKey(sample.name, sample.labels);
    values.set(key, sample.value);
    classes.set(key, { canary: path === gate.canary, failure: isFailure(sample.labels) });
  }
  return { values, classes };
}

function summary(gate: CompareGate, test: CompareTestState): string {
  const t = test.totals;
  const ratio = observedRatio(t);
  return (
    `${gate.canary} ${number(t.canaryFailures)}/${number(t.canaryRequests)} failed (${percent(t.canaryFailures, t.canaryRequests)}), ` +
    `${gate.baseline} ${number(t.baselineFailures)}/${number(t.baselineRequests)} (${percent(t.baselineFailures, t.baselineRequests)}); ` +
    `ratio ${ratio === null ? 'n/a' : ratio.toFixed(2)} (tolerance ${gate.maxRatio}); ` +
    `evidence ${compareEvidence(test).toPrecision(3)} of ${+(1 / gate.alpha).toPrecision(4)}`
  );
}

/**
 * The `compare` provider: scrapes the endpoint, folds the interval's counter increases of both paths into the
 * sequential test of `src/gates/compare-test.ts`, and reports its verdict. `value` is the test's evidence
 * (its mixture likelihood ratio), `threshold` is 1/alpha, `sample` the smaller path's requests in the stage.
 *
 * @example
 * const gate = createCompareGate(definition, { env: process.env });
 * let result = await gate.measure(undefined); // baseline scrape: inconclusive
 * result = await gate.measure(result.state);
 */
export function createCompareGate(
  gate: CompareGate,
  environment: GateEnvironment,
): GateProvider<CompareGateState> {
  return {
    provider: 'compare',
    async measure(previous, context: MeasureContext = {}): Promise<GateResult<CompareGateState>> {
      const state: CompareGateState = previous ?? {
        counters: {},
        baselineTaken: false,
        test: initialCompareState(),
        resets: 0,
      };
      const config = { maxRatio: gate.maxRatio, alpha: gate.alpha, minSample: gate.minSample };
      const judged = statefulResult<CompareGateState>(1 / gate.alpha);
      const result = (
        verdict: GateResult<CompareGateState>['verdict'],
        detail: string,
        next: CompareGateState,
      ) =>
        judged(
          verdict,
          detail,
          next,
          compareEvidence(next.test),
          Math.min(next.test.totals.canaryRequests, next.test.totals.baselineRequests),
        );

      let samples: ExpositionSample[];
      try {
        samples = await scrapeGateEndpoint(gate, environment.env, context.signal);
      } catch (error) {
        // A failed scrape is no evidence either way; the rejection, once made, stands.
        const verdict = state.test.rejectedLogEvidence === null ? 'inconclusive' : 'fail';
        return result(verdict, `could not measure: ${(error as Error).message}`, state);
      }

      let classified: ReturnType<typeof classify>;
      let increases: ReturnType<typeof counterIncreases>;
      try {
        classified = classify(gate, samples);
        increases = counterIncreases(state.counters, classified.values, {
          restarted: restartedSince(state, samples),
        });
      } catch (error) {
        return result('inconclusive', `could not measure: ${(error as Error).message}`, state);
      }
      if (classified.values.size === 0 && !state.baselineTaken) {
        return result(
          'inconclusive',
          `no ${gate.metric} series with ${gate.splitLabel}="${gate.canary}" or "${gate.baseline}" at the endpoint yet`,
          state,
        );
      }
      if (!state.baselineTaken) {
        const next = {
          ...state,
          counters: increases.values,
          baselineTaken: true,
          processStart: processStartTime(samples),
        };
        return result(
          'inconclusive',
          `first scrape: ${classified.values.size} series; judging starts with the next`,
          next,
        );
      }

      const counts: CompareCounts = {
        canaryRequests: 0,
        canaryFailures: 0,
        baselineRequests: 0,
        baselineFailures: 0,
      };
      for (const [key, increase] of increases.increases) {
        const kind = classified.classes.get(key);
        if (!kind) continue;
        if (kind.canary) {
          counts.canaryRequests += increase;
          if (kind.failure) counts.canaryFailures += increase;
        } else {
          counts.baselineRequests += increase;
          if (kind.failure) counts.baselineFailures += increase;
        }
      }
      const update = updateCompareTest(state.test, counts, config);
      const next: CompareGateState = {
        counters: increases.values,
        baselineTaken: true,
        test: update.state,
        resets: state.resets + increases.resets,
        processStart: processStartTime(samples),
      };
      const notes = [
        update.refused ? `interval skipped: ${update.refused}` : '',
        increases.resets > 0 ? `${increases.resets} counter reset(s): the service restarted` : '',
      ].filter(Boolean);
      const decision = compareDecision(next.test, config);
      const head =
        decision === 'fail'
          ? `${gate.canary} fails more often than ${gate.maxRatio}× ${gate.baseline}`
          : decision === 'inconclusive'
            ? `fewer than ${gate.minSample} requests on a path so far`
            : context.soakEnded
              ? 'soak ended with no regression'
              : 'no regression so far';
      return result(decision, [`${head}: ${summary(gate, next.test)}`, ...notes].join('; '), next);
    },
  };
}
