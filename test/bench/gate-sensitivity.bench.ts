import {
  compareDecision,
  initialCompareState,
  updateCompareTest,
  type CompareTestConfig,
} from '../../src/gates/compare-test';

/**
 * The `compare` gate's test in simulation (virtual time, no servers), against a fixed-threshold gate in the
 * usual progressive-delivery style. Traffic: 1,000 requests/s as Poisson arrivals, 10 % on the canary
 * (unified) path, baseline failure rate 1 %; one measurement per simulated second for `compare` (its 1 s
 * interval). Counts per second are drawn from a seeded generator (Poisson arrivals, binomial failures),
 * never per request, so the whole run is reproducible.
 *
 * - healthy: equal failure rates on both paths for one-hour stages; a stage that fails is a false rollback.
 * - boundary: the canary fails exactly `maxRatio` times as often as the baseline, the worst case the tolerance
 *   still calls healthy; the anytime-valid bound says at most `alpha` of these stages may roll back.
 * - detect_2x / detect_5x: the canary's failure rate is 2× / 5× the baseline's from the stage's start; the
 *   figure is the median time to the failing measurement (">3600" when most runs never failed).
 * - threshold gate: one check per `THRESHOLD_INTERVAL_S` (a minute by default, as Argo Rollouts and Flagger
 *   do) of the canary's error ratio over that interval, rolled back at the third failed check of the stage
 *   (failureLimit 3). Its threshold is tuned on separate healthy stages so that at most `alpha` of them roll
 *   back: the same false-alarm level the compare gate is configured with.
 *   The same threshold gate checked every second (threshold tuned the same way) is reported too.
 */

const RATE = 1_000;
const CANARY_SHARE = 0.1;
const BASELINE_FAILURE_RATE = 0.01;
const STAGE_S = 3_600;
const HEALTHY_RUNS = Number(process.env.BENCH_HEALTHY_RUNS ?? 1_000);
const DETECT_RUNS = Number(process.env.BENCH_DETECT_RUNS ?? 200);
const THRESHOLD_INTERVAL_S = 60;
const FAILURE_LIMIT = 3;
/** The compare gate's defaults (src/gates/gate-definition.ts). */
const CONFIG: CompareTestConfig = { maxRatio: 1.2, alpha: 0.01, minSample: 100 };

function log(line: string): void {
  process.stderr.write(`[gate-sensitivity] ${line}\n`);
}

/** sfc32, seeded through splitmix32: small, fast and good enough for simulation. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  const splitmix = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4_294_967_296;
  };
}

const LOG_FACTORIALS: number[] = [0];
for (let k = 1; k < 1_024; k++) LOG_FACTORIALS.push((LOG_FACTORIALS[k - 1] as number) + Math.log(k));

function logFactorial(k: number): number {
  if (k < LOG_FACTORIALS.length) return LOG_FACTORIALS[k] as number;
  // Stirling's series; exact to double precision from here on.
  return (k + 0.5) * Math.log(k + 1) - (k + 1) + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * (k + 1));
}

/** Poisson draws: multiplication for small means, PTRS (Hörmann 1993) above 10. */
function poisson(random: () => number, mean: number): number {
  if (mean <= 0) return 0;
  if (mean < 10) {
    const limit = Math.exp(-mean);
    let k = 0;
    let product = random();
    while (product > limit) {
      k++;
      product *= random();
    }
    return k;
  }
  const slam = Math.sqrt(mean);
  const logMean = Math.log(mean);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = random() - 0.5;
    const v = random();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (
      Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <=
      -mean + k * logMean - logFactorial(k)
    ) {
      return k;
    }
  }
}

/** Binomial draws by inversion; the means here are small (n·p ≤ a few dozen). */
function binomial(random: () => number, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (n * p > 200)
    return Math.max(0, Math.min(n, Math.round(n * p + Math.sqrt(n * p * (1 - p)) * normal(random))));
  const q = 1 - p;
  const s = p / q;
  const a = (n + 1) * s;
  let r = q ** n;
  let u = random();
  let x = 0;
  while (u > r && x < n) {
    u -= r;
    x++;
    r *= a / x - s;
  }
  return x;
}

function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

interface Second {
  canaryRequests: number;
  canaryFailures: number;
  baselineRequests: number;
  baselineFailures: number;
}

function simulateSecond(random: () => number, canaryFailureRate: number): Second {
  const canaryRequests = poisson(random, RATE * CANARY_SHARE);
  const baselineRequests = poisson(random, RATE * (1 - CANARY_SHARE));
  return {
    canaryRequests,
    canaryFailures: binomial(random, canaryRequests, canaryFailureRate),
    baselineRequests,
    baselineFailures: binomial(random, baselineRequests, BASELINE_FAILURE_RATE),
  };
}

interface StageResult {
  /** Second of the compare gate's failing measurement, or null when it never failed. */
  compareFailedAt: number | null;
  /** The canary error ratio of every threshold check, per check interval. */
  checks: Map<number, number[]>;
}

/** One stage: every second feeds the compare test and the threshold checks of each interval. */
function simulateStage(
  seed: number,
  canaryFailureRate: number,
  intervals: number[],
  stopAtFailure: boolean,
): StageResult {
  const random = createRandom(seed);
  let state = initialCompareState();
  let compareFailedAt: number | null = null;
  const checks = new Map(intervals.map((interval) => [interval, [] as number[]]));
  const windows = new Map(intervals.map((interval) => [interval, { requests: 0, failures: 0 }]));
  for (let second = 1; second <= STAGE_S; second++) {
    const counts = simulateSecond(random, canaryFailureRate);
    if (compareFailedAt === null) {
      state = updateCompareTest(state, counts, CONFIG).state;
      if (compareDecision(state, CONFIG) === 'fail') compareFailedAt = second;
    }
    for (const interval of intervals) {
      const window = windows.get(interval) as { requests: number; failures: number };
      window.requests += counts.canaryRequests;
      window.failures += counts.canaryFailures;
      if (second % interval === 0) {
        (checks.get(interval) as number[]).push(window.requests > 0 ? window.failures / window.requests : 0);
        window.requests = 0;
        window.failures = 0;
      }
    }
    if (stopAtFailure && compareFailedAt !== null && intervals.length === 0) break;
  }
  return { compareFailedAt, checks };
}

/** The value a check's ratio must exceed FAILURE_LIMIT times for the stage to roll back: its third largest. */
function rollbackStatistic(ratios: number[]): number {
  return [...ratios].sort((a, b) => b - a)[FAILURE_LIMIT - 1] ?? 0;
}

/** The smallest threshold at which at most `alpha` of the calibration stages would have rolled back. */
function tuneThreshold(statistics: number[], alpha: number): number {
  const sorted = [...statistics].sort((a, b) => b - a);
  const allowed = Math.floor(alpha * sorted.length);
  // Strictly above the (allowed+1)-th largest statistic, that stage and every lower one pass.
  const bound = sorted[allowed] ?? 0;
  return bound + 1e-12;
}

/** Seconds to the third failed check, or null. */
function thresholdDetection(ratios: number[], threshold: number, interval: number): number | null {
  let failed = 0;
  for (let i = 0; i < ratios.length; i++) {
    if ((ratios[i] as number) > threshold) failed++;
    if (failed >= FAILURE_LIMIT) return (i + 1) * interval;
  }
  return null;
}

function median(times: (number | null)[]): number | string {
  const sorted = times.map((t) => t ?? Infinity).sort((a, b) => a - b);
  const middle = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2] : sorted[sorted.length / 2 - 1];
  const upper = sorted.length % 2 === 1 ? middle : sorted[sorted.length / 2];
  const value = ((middle as number) + (upper as number)) / 2;
  return Number.isFinite(value) ? value : `>${STAGE_S}`;
}

const round = (value: number, digits = 4): number => Number(value.toFixed(digits));

export default async function gateSensitivityBench(): Promise<Record<string, number | string>> {
  const started = performance.now();
  const intervals = [THRESHOLD_INTERVAL_S, 1];

  log(`calibrating the threshold gates on ${HEALTHY_RUNS} healthy stages`);
  const calibration = intervals.map(() => [] as number[]);
  for (let run = 0; run < HEALTHY_RUNS; run++) {
    const stage = simulateStage(1_000_000 + run, BASELINE_FAILURE_RATE, intervals, false);
    intervals.forEach((interval, i) =>
      calibration[i]?.push(rollbackStatistic(stage.checks.get(interval) ?? [])),
    );
  }
  const thresholds = intervals.map((_, i) => tuneThreshold(calibration[i] ?? [], CONFIG.alpha));
  log(
    `thresholds: ${intervals.map((interval, i) => `${interval}s → ${thresholds[i]?.toFixed(4)}`).join(', ')}`,
  );

  log(`${HEALTHY_RUNS} healthy one-hour stages`);
  let compareFalse = 0;
  const thresholdFalse = intervals.map(() => 0);
  for (let run = 0; run < HEALTHY_RUNS; run++) {
    const stage = simulateStage(2_000_000 + run, BASELINE_FAILURE_RATE, intervals, false);
    if (stage.compareFailedAt !== null) compareFalse++;
    intervals.forEach((interval, i) => {
      if (thresholdDetection(stage.checks.get(interval) ?? [], thresholds[i] as number, interval) !== null) {
        thresholdFalse[i] = (thresholdFalse[i] ?? 0) + 1;
      }
    });
  }

  log(`${HEALTHY_RUNS} one-hour stages with the canary at the tolerance (maxRatio × the baseline rate)`);
  let boundaryFalse = 0;
  for (let run = 0; run < HEALTHY_RUNS; run++) {
    const stage = simulateStage(5_000_000 + run, BASELINE_FAILURE_RATE * CONFIG.maxRatio, [], true);
    if (stage.compareFailedAt !== null) boundaryFalse++;
  }

  const detection = (factor: number, seedBase: number) => {
    log(`${DETECT_RUNS} stages with the canary failing ${factor}× as often`);
    const compare: (number | null)[] = [];
    const threshold = intervals.map(() => [] as (number | null)[]);
    for (let run = 0; run < DETECT_RUNS; run++) {
      const stage = simulateStage(seedBase + run, BASELINE_FAILURE_RATE * factor, intervals, false);
      compare.push(stage.compareFailedAt);
      intervals.forEach((interval, i) =>
        threshold[i]?.push(
          thresholdDetection(stage.checks.get(interval) ?? [], thresholds[i] as number, interval),
        ),
      );
    }
    return { compare: median(compare), threshold: threshold.map(median) };
  };
  const twice = detection(2, 3_000_000);
  const fivefold = detection(5, 4_000_000);

  return {
    healthy_runs: HEALTHY_RUNS,
    detect_runs: DETECT_RUNS,
    false_rollback_rate: round(compareFalse / HEALTHY_RUNS),
    boundary_false_rollback_rate: round(boundaryFalse / HEALTHY_RUNS),
    detect_2x_p50_s: twice.compare,
    detect_5x_p50_s: fivefold.compare,
    threshold_interval_s: THRESHOLD_INTERVAL_S,
    threshold_failure_limit: FAILURE_LIMIT,
    threshold_error_ratio: round(thresholds[0] ?? 0),
    threshold_false_rollback_rate: round((thresholdFalse[0] ?? 0) / HEALTHY_RUNS),
    threshold_detect_2x_p50_s: twice.threshold[0] ?? '',
    threshold_detect_5x_p50_s: fivefold.threshold[0] ?? '',
    threshold_1s_error_ratio: round(thresholds[1] ?? 0),
    threshold_1s_false_rollback_rate: round((thresholdFalse[1] ?? 0) / HEALTHY_RUNS),
    threshold_1s_detect_2x_p50_s: twice.threshold[1] ?? '',
    threshold_1s_detect_5x_p50_s: fivefold.threshold[1] ?? '',
    max_ratio: CONFIG.maxRatio,
    alpha: CONFIG.alpha,
    seconds: round((performance.now() - started) / 1000, 1),
  };
}
