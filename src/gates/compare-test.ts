/**
 * The `compare` gate's statistics: an anytime-valid one-sided test that the canary path's failure rate is at
 * most `maxRatio` times the baseline path's, decided afresh at every measurement with a false-alarm
 * probability of at most `alpha` however often it looks. Pure, deterministic arithmetic on counts, so the
 * workflow, the provider and the benchmark share it.
 *
 * ## Model (after Lindon & Malek, "Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022, and
 * Lindon, Sanden & Shirikian, "Rapid Regression Detection in Software Deployments through Sequential
 * Testing", KDD 2022)
 * Both paths serve the same traffic at the same time to randomly assigned users. Failures on each path form a
 * counting process whose intensity is (requests on that path) × (that path's failure rate), with the same
 * time-varying load for both. Treat the counts of one measurement interval i as Poisson:
 *   canary failures x_i ~ Poisson(n_i · p_c),  baseline failures y_i ~ Poisson(m_i · p_b),
 * where n_i, m_i are the requests each path served in the interval. Conditioning on the failures of the
 * interval, k_i = x_i + y_i, removes the unknown load and the unknown baseline rate:
 *   x_i | k_i ~ Binomial(k_i, π_i(θ)),  π_i(θ) = θ n_i / (θ n_i + m_i),  θ = p_c / p_b.
 * That is the "which path did the next failure come from" view of the cited papers, with the exposure of each
 * path taken from its request counts instead of a fixed allocation, so a traffic split that drifts within a
 * stage (sticky users, uneven load) does not bias the test.
 *
 * ## Hypotheses
 * H0: θ ≤ θ0 = maxRatio (within tolerance) against H1: θ > θ0 (a regression).
 *
 * ## Statistic: a mixture SPRT
 * For an alternative θ1 = θ0·e^δ (δ > 0) the likelihood ratio of interval i simplifies to
 *   log LR_i(δ) = x_i·δ − k_i·log(1 + π_i(θ0)·(e^δ − 1)).
 * The mixture likelihood ratio (the e-value) after t intervals is
 *   E_t = Σ_j w_j · exp(Σ_{i≤t} log LR_i(δ_j)),
 * a mixture over the fixed grid {@link MIXTURE_DELTAS} (the tested ratios θ0·e^δ run from 1.05·θ0 to
 * about 30·θ0) with equal weights w_j = 1/J. A discrete mixing distribution keeps the statistic exact and its
 * state small (one running sum per grid point), and needs no conjugacy, which a per-interval π_i breaks.
 *
 * ## Why it is anytime-valid
 * Given the past, x_i | k_i is binomial in the natural parameter log θ, so for every δ > 0 and every
 * θ ≤ θ0, E[LR_i(δ)] = exp(k_i·[A(η+δ) − A(η) − A(η0+δ) + A(η0)]) ≤ 1 (A convex, η ≤ η0); each
 * component, and so the mixture, is a non-negative supermartingale under H0 with E_0 = 1. Ville's inequality
 * gives P_H0(sup_t E_t ≥ 1/alpha) ≤ alpha: the gate may look after every interval, and any number of
 * intervals, at a false-alarm probability of at most alpha. Only alternatives above θ0 are mixed, which is
 * what makes the whole composite null (θ ≤ θ0), not only its boundary, safe.
 * Under binomial rather than Poisson sampling with equal rates, x_i | k_i is hypergeometric, whose moment
 * generating function is dominated by the binomial's (Hoeffding 1963), so the test stays conservative; for
 * failure rates that are not small, `maxRatio` reads as a ratio of odds rather than of rates.
 *
 * ## Decision
 * - fail as soon as E_t ≥ 1/alpha (the rejection is final: later measurements keep failing);
 * - inconclusive while either path has served fewer than `minSample` requests in the stage (evidence still
 *   accumulates, so a regression found early fails the moment the sample is reached);
 * - otherwise pass: provisional during the soak ("no regression so far"), final when the soak ended.
 *
 * ## Parameters
 * `maxRatio` (θ0, default 1.2), `alpha` (default 0.01, threshold 1/alpha = 100), `minSample` (default 100
 * requests on each path), the grid below. Numbers of any size are handled in log space; non-finite,
 * negative or inconsistent counts (more failures than requests) are refused and leave the state unchanged.
 */

/** log(θ1/θ0) of the mixture's alternatives: from 5 % above the tolerance to about 30 times it. */
export const MIXTURE_DELTAS: readonly number[] = Array.from({ length: 13 }, (_, j) => 0.05 * Math.SQRT2 ** j);

export interface CompareTestConfig {
  /** θ0: the largest canary/baseline failure-rate ratio that is still healthy. */
  maxRatio: number;
  /** The false-alarm level; the test fails when the evidence reaches 1/alpha. */
  alpha: number;
  /** Requests each path needs in the stage before the test may decide. */
  minSample: number;
}

/** One interval's increases: requests and failures of each path. */
export interface CompareCounts {
  canaryRequests: number;
  canaryFailures: number;
  baselineRequests: number;
  baselineFailures: number;
}

/** Everything the test carries from one measurement to the next; plain JSON. */
export interface CompareTestState {
  /** Σ_i log LR_i(δ_j), one per {@link MIXTURE_DELTAS} entry. */
  logLikelihoodRatios: number[];
  /** Totals over the stage. */
  totals: CompareCounts;
  /** Intervals folded in. */
  intervals: number;
  /** log E at the first crossing of 1/alpha, once it happened; the rejection is final. */
  rejectedLogEvidence: number | null;
}

export function initialCompareState(): CompareTestState {
  return {
    logLikelihoodRatios: MIXTURE_DELTAS.map(() => 0),
    totals: { canaryRequests: 0, canaryFailures: 0, baselineRequests: 0, baselineFailures: 0 },
    intervals: 0,
    rejectedLogEvidence: null,
  };
}

/** Why counts cannot be folded in, or undefined when they can. */
export function countsProblem(counts: CompareCounts): string | undefined {
  for (const [name, value] of Object.entries(counts)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) return `${name} is not a finite number`;
    if (value < 0) return `${name} is negative`;
  }
  if (counts.canaryFailures > counts.canaryRequests) return 'canary failures exceed its requests';
  if (counts.baselineFailures > counts.baselineRequests) return 'baseline failures exceed its requests';
  return undefined;
}

function checkConfig(config: CompareTestConfig): void {
  if (!(config.maxRatio > 0 && Number.isFinite(config.maxRatio)))
    throw new RangeError('maxRatio must be positive');
  if (!(config.alpha > 0 && config.alpha < 1)) throw new RangeError('alpha must be between 0 and 1');
  if (!(config.minSample >= 0)) throw new RangeError('minSample must not be negative');
}

/**
 * Folds one interval's counts into the test. Returns the new state (the old one is not changed) and, when
 * the counts were refused, why.
 *
 * @example
 * const config = { maxRatio: 1.2, alpha: 0.01, minSample: 100 };
 * const counts = { canaryRequests: 100, canaryFailures: 9, baselineRequests: 900, baselineFailures: 9 };
 * compareDecision(updateCompareTest(initialCompareState(), counts, config).state, config); // 'fail': 9 % against 1 %
 */
export function updateCompareTest(
  state: CompareTestState,
  counts: CompareCounts,
  config: CompareTestConfig,
): { state: CompareTestState; refused?: string } {
  checkConfig(config);
  const problem = countsProblem(counts);
  if (problem) return { state, refused: problem };
  const { canaryRequests: n, canaryFailures: x, baselineRequests: m, baselineFailures: y } = counts;
  const k = x + y;
  const logLikelihoodRatios = [...state.logLikelihoodRatios];
  // With no requests on one path the interval says nothing about the split (and with no failures, nothing
  // at all): every log LR term is zero.
  if (k > 0 && n > 0 && m > 0) {
    const theta0 = config.maxRatio;
    // π0 = θ0 n / (θ0 n + m), written to stay finite for counts of any size.
    const pi0 = 1 / (1 + m / (theta0 * n));
    MIXTURE_DELTAS.forEach((delta, j) => {
      logLikelihoodRatios[j] =
        (logLikelihoodRatios[j] ?? 0) + x * delta - k * Math.log1p(pi0 * Math.expm1(delta));
    });
  }
  const totals = {
    canaryRequests: state.totals.canaryRequests + n,
    canaryFailures: state.totals.canaryFailures + x,
    baselineRequests: state.totals.baselineRequests + m,
    baselineFailures: state.totals.baselineFailures + y,
  };
  const next: CompareTestState = {
    logLikelihoodRatios,
    totals,
    intervals: state.intervals + 1,
    rejectedLogEvidence: state.rejectedLogEvidence,
  };
  const logEvidence = compareLogEvidence(next);
  // Looking only once both paths have the minimum sample is one more stopping rule, which Ville allows.
  if (
    next.rejectedLogEvidence === null &&
    hasMinimumSample(totals, config.minSample) &&
    logEvidence >= Math.log(1 / config.alpha)
  ) {
    next.rejectedLogEvidence = logEvidence;
  }
  return { state: next };
}

/** log E_t, by log-sum-exp so that neither a huge nor a tiny evidence overflows. */
export function compareLogEvidence(state: CompareTestState): number {
  const terms = state.logLikelihoodRatios;
  if (terms.length === 0) return 0;
  const max = Math.max(...terms);
  if (!Number.isFinite(max)) return max;
  const sum = terms.reduce((acc, term) => acc + Math.exp(term - max), 0);
  return max + Math.log(sum / terms.length);
}

/** E_t itself, capped at the largest finite number. */
export function compareEvidence(state: CompareTestState): number {
  return Math.min(Math.exp(compareLogEvidence(state)), Number.MAX_VALUE);
}

/** The canary's failure rate over the baseline's in the stage so far; null while either rate is undefined. */
export function observedRatio(totals: CompareCounts): number | null {
  const { canaryRequests, canaryFailures, baselineRequests, baselineFailures } = totals;
  if (canaryRequests <= 0 || baselineRequests <= 0) return null;
  const canaryRate = canaryFailures / canaryRequests;
  const baselineRate = baselineFailures / baselineRequests;
  if (baselineRate === 0) return canaryRate === 0 ? 1 : null;
  return canaryRate / baselineRate;
}

function hasMinimumSample(totals: CompareCounts, minSample: number): boolean {
  return Math.min(totals.canaryRequests, totals.baselineRequests) >= minSample;
}

export type CompareDecision = 'fail' | 'inconclusive' | 'pass';

/** The verdict the test's state supports now (see the module comment). */
export function compareDecision(state: CompareTestState, config: CompareTestConfig): CompareDecision {
  if (state.rejectedLogEvidence !== null) return 'fail';
  if (!hasMinimumSample(state.totals, config.minSample)) return 'inconclusive';
  return 'pass';
}
