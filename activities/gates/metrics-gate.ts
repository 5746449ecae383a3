import { counterIncreases, seriesKey, type CounterValues } from '../../src/gates/counter-increase';
import type { MetricsGate } from '../../src/gates/gate-definition';
import { compileMatchers, parseSeriesSelector } from '../../src/gates/series-selector';
import { processStartTime, restartedSince, scrapeGateEndpoint, type ExpositionSample } from './exposition';
import { judgeThreshold, statefulResult } from './gate-provider';
import type { GateEnvironment, GateProvider, GateResult, MeasureContext } from './gate-provider';

/** What a metrics gate carries between measurements: the last scrape's counters and when it was taken. */
export interface MetricsGateState {
  counters: CounterValues;
  /** Milliseconds since the epoch of the last successful scrape; null before the first. */
  scrapedAt: number | null;
  /** The target's `process_start_time_seconds` at the last scrape, when it exposes one. */
  processStart?: number;
}

/** Follows the series a selector picks; numerator and denominator keys are kept apart by a prefix. */
function pick(
  selectorText: string,
  prefix: string,
  samples: ExpositionSample[],
  into: Map<string, number>,
): number {
  const selector = parseSeriesSelector(selectorText);
  const matches = compileMatchers(selector.matchers);
  let found = 0;
  for (const sample of samples) {
    if (sample.name !== selector.metric || !matches(sample.labels)) continue;
    into.set(`${prefix}${seriesKey(sample.name, sample.labels)}`, sample.value);
    found++;
  }
  return found;
}

function sumIncreases(increases: Map<string, number>, prefix: string): number {
  let sum = 0;
  for (const [key, value] of increases) if (key.startsWith(prefix)) sum += value;
  return sum;
}

/**
 * The `metrics` provider: a rate (increase per second) or a ratio of counter increases between this scrape
 * and the last, against a fixed threshold. Needs no Prometheus server. The first measurement of a stage only
 * takes the baseline scrape (inconclusive).
 */
export function createMetricsGate(
  gate: MetricsGate,
  environment: GateEnvironment,
): GateProvider<MetricsGateState> {
  const now = environment.now ?? Date.now;
  return {
    provider: 'metrics',
    async measure(previous, context: MeasureContext = {}): Promise<GateResult<MetricsGateState>> {
      const state: MetricsGateState = previous ?? { counters: {}, scrapedAt: null };
      const result = statefulResult<MetricsGateState>(gate.threshold);

      let samples: ExpositionSample[];
      try {
        samples = await scrapeGateEndpoint(gate, environment.env, context.signal);
      } catch (error) {
        return result('inconclusive', `could not measure: ${(error as Error).message}`, state);
      }
      const scrapedAt = now();
      const current = new Map<string, number>();
      let increases: ReturnType<typeof counterIncreases>;
      let numeratorSeries: number;
      let denominatorSeries = 0;
      try {
        numeratorSeries = pick(gate.numerator, 'n:', samples, current);
        if (gate.kind === 'ratio' && gate.denominator)
          denominatorSeries = pick(gate.denominator, 'd:', samples, current);
        increases = counterIncreases(state.counters, current, { restarted: restartedSince(state, samples) });
      } catch (error) {
        return result('inconclusive', `could not measure: ${(error as Error).message}`, state);
      }
      const next: MetricsGateState = {
        counters: increases.values,
        scrapedAt,
        processStart: processStartTime(samples),
      };
      if (state.scrapedAt === null) {
        const matched =
          gate.kind === 'ratio'
            ? `numerator ${numeratorSeries}, denominator ${denominatorSeries}`
            : `${numeratorSeries}`;
        return result(
          'inconclusive',
          `first scrape: series matched ${matched}; the ${gate.kind} starts with the next`,
          next,
        );
      }
      const restarts = increases.resets > 0 ? '; counters reset: the target restarted' : '';
      const numerator = sumIncreases(increases.increases, 'n:');
      let value: number;
      let sample: number;
      let what: string;
      if (gate.kind === 'rate') {
        const seconds = (scrapedAt - state.scrapedAt) / 1000;
        if (!(seconds > 0)) return result('inconclusive', 'no time passed since the last scrape', next);
        if (numeratorSeries === 0 && Object.keys(state.counters).length === 0) {
          return result('inconclusive', `no series match ${gate.numerator}`, next);
        }
        value = numerator / seconds;
        sample = numerator;
        what = `rate ${value.toPrecision(4)}/s (${numerator} in ${seconds.toFixed(1)} s)`;
      } else {
        const denominator = sumIncreases(increases.increases, 'd:');
        sample = denominator;
        const minimum = Math.max(gate.minSample ?? 1, 1);
        if (denominator < minimum) {
          const none = denominatorSeries === 0 ? `; no series match ${gate.denominator ?? ''}` : '';
          return result(
            'inconclusive',
            `denominator increased by ${denominator}, below the minimum sample ${minimum}${none}${restarts}`,
            next,
            null,
            denominator,
          );
        }
        value = numerator / denominator;
        what = `ratio ${value.toPrecision(4)} (${numerator}/${denominator})`;
      }
      const { verdict, detail } = judgeThreshold(gate, value, what);
      return result(verdict, `${detail}${restarts}`, next, value, sample);
    },
  };
}
