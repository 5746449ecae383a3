import {
  compareDecision,
  compareEvidence,
  compareLogEvidence,
  countsProblem,
  initialCompareState,
  MIXTURE_DELTAS,
  observedRatio,
  updateCompareTest,
  type CompareCounts,
  type CompareTestConfig,
  type CompareTestState,
} from '../../src/gates/compare-test';

const config: CompareTestConfig = { maxRatio: 1.2, alpha: 0.01, minSample: 100 };

function counts(
  canaryRequests: number,
  canaryFailures: number,
  baselineRequests: number,
  baselineFailures: number,
): CompareCounts {
  return { canaryRequests, canaryFailures, baselineRequests, baselineFailures };
}

function fold(intervals: CompareCounts[], cfg: CompareTestConfig = config): CompareTestState {
  return intervals.reduce((state, c) => updateCompareTest(state, c, cfg).state, initialCompareState());
}

/** The binomial log likelihood ratio written out from its definition, to check the simplified form. */
function directLogLr(c: CompareCounts, theta0: number, delta: number): number {
  const theta1 = theta0 * Math.exp(delta);
  const pi = (theta: number) => (theta * c.canaryRequests) / (theta * c.canaryRequests + c.baselineRequests);
  return (
    c.canaryFailures * Math.log(pi(theta1) / pi(theta0)) +
    c.baselineFailures * Math.log((1 - pi(theta1)) / (1 - pi(theta0)))
  );
}

/** mulberry32: a seeded generator, so the Monte Carlo checks are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Binomial draws by inversion (small means only). */
function binomial(random: () => number, n: number, p: number): number {
  const s = p / (1 - p);
  let r = (1 - p) ** n;
  let u = random();
  let x = 0;
  while (u > r && x < n) {
    u -= r;
    x++;
    r *= ((n + 1) * s) / x - s;
  }
  return x;
}

describe('compare test: the likelihood ratio', () => {
  it('matches the binomial likelihood ratio written from its definition, for every mixture component', () => {
    const c = counts(137, 7, 861, 11);
    const state = updateCompareTest(initialCompareState(), c, config).state;
    MIXTURE_DELTAS.forEach((delta, j) => {
      expect(state.logLikelihoodRatios[j]).toBeCloseTo(directLogLr(c, config.maxRatio, delta), 10);
    });
  });

  it('is the equal-weight mixture of its components (known value)', () => {
    const c = counts(100, 9, 900, 9);
    const state = updateCompareTest(initialCompareState(), c, config).state;
    const expected =
      MIXTURE_DELTAS.map((delta) => Math.exp(directLogLr(c, config.maxRatio, delta))).reduce(
        (a, b) => a + b,
        0,
      ) / MIXTURE_DELTAS.length;
    expect(compareEvidence(state)).toBeCloseTo(expected, 8);
    // 9 % against 1 % on 100 and 900 requests is past 1/alpha = 100 at once.
    expect(expected).toBeGreaterThan(100);
    expect(compareDecision(state, config)).toBe('fail');
  });

  it('spans alternatives from 5 % above the tolerance to about 30 times it', () => {
    expect(Math.exp(MIXTURE_DELTAS[0] as number)).toBeCloseTo(1.05, 2);
    expect(Math.exp(MIXTURE_DELTAS[MIXTURE_DELTAS.length - 1] as number)).toBeGreaterThan(20);
    expect([...MIXTURE_DELTAS].sort((a, b) => a - b)).toEqual(MIXTURE_DELTAS);
  });

  it('sums over intervals: folding two intervals equals the sum of their log ratios', () => {
    const a = counts(90, 3, 910, 8);
    const b = counts(120, 6, 880, 10);
    const state = fold([a, b]);
    MIXTURE_DELTAS.forEach((delta, j) => {
      expect(state.logLikelihoodRatios[j]).toBeCloseTo(
        directLogLr(a, 1.2, delta) + directLogLr(b, 1.2, delta),
        10,
      );
    });
    expect(state.intervals).toBe(2);
    expect(state.totals).toEqual(counts(210, 9, 1790, 18));
  });

  it('never changes the state it was given', () => {
    const before = initialCompareState();
    const copy = structuredClone(before);
    updateCompareTest(before, counts(100, 50, 900, 1), config);
    expect(before).toEqual(copy);
  });
});

describe('compare test: edge cases', () => {
  it('zero failures on both paths: evidence stays exactly 1 and the verdict is pass once the sample is there', () => {
    const state = fold([counts(500, 0, 4_500, 0), counts(500, 0, 4_500, 0)]);
    expect(compareLogEvidence(state)).toBe(0);
    expect(compareEvidence(state)).toBe(1);
    expect(compareDecision(state, config)).toBe('pass');
  });

  it('zero requests: no information, inconclusive, nothing breaks', () => {
    const state = fold([counts(0, 0, 0, 0), counts(0, 0, 900, 9), counts(100, 0, 0, 0)]);
    expect(compareLogEvidence(state)).toBe(0);
    expect(state.totals).toEqual(counts(100, 0, 900, 9));
    expect(compareDecision(state, config)).toBe('pass');
    expect(compareDecision(fold([counts(0, 0, 5_000, 50)]), config)).toBe('inconclusive');
  });

  it('refuses NaN, infinite, negative and inconsistent counts and keeps the state', () => {
    const start = fold([counts(100, 1, 900, 9)]);
    const bad: [CompareCounts, RegExp][] = [
      [counts(Number.NaN, 0, 900, 9), /canaryRequests is not a finite number/],
      [counts(100, Infinity, 900, 9), /canaryFailures is not a finite number/],
      [counts(100, 1, -900, 9), /baselineRequests is negative/],
      [counts(100, 101, 900, 9), /canary failures exceed its requests/],
      [counts(100, 1, 900, 901), /baseline failures exceed its requests/],
    ];
    for (const [c, message] of bad) {
      expect(countsProblem(c)).toMatch(message);
      const result = updateCompareTest(start, c, config);
      expect(result.refused).toMatch(message);
      expect(result.state).toBe(start);
    }
  });

  it('stays finite with huge counts, both when healthy and when the canary fails far more often', () => {
    const healthy = fold([counts(1e15, 1e13, 9e15, 9e13), counts(1e15, 1e13, 9e15, 9e13)]);
    expect(Number.isFinite(compareLogEvidence(healthy))).toBe(true);
    expect(compareDecision(healthy, config)).toBe('pass');
    const broken = fold([counts(1e15, 5e14, 9e15, 9e13)]);
    expect(compareLogEvidence(broken)).toBeGreaterThan(1e12);
    expect(compareEvidence(broken)).toBe(Number.MAX_VALUE);
    expect(compareDecision(broken, config)).toBe('fail');
  });

  it('a canary failing exactly at the tolerance builds no evidence on average', () => {
    // x/k equal to π0 is the null boundary itself: every component's log ratio is negative.
    const state = fold([counts(1_000, 12, 1_000, 10)]);
    for (const value of state.logLikelihoodRatios) expect(value).toBeLessThan(0);
    expect(compareDecision(state, config)).toBe('pass');
  });
});

describe('compare test: decisions', () => {
  it('is inconclusive while either path is below minSample, and fails the moment the sample is reached', () => {
    // Strong evidence on 50 canary requests: not yet judged.
    const early = fold([counts(50, 25, 950, 5)]);
    expect(compareLogEvidence(early)).toBeGreaterThan(Math.log(100));
    expect(compareDecision(early, config)).toBe('inconclusive');
    expect(early.rejectedLogEvidence).toBeNull();
    const reached = updateCompareTest(early, counts(50, 0, 950, 10), config).state;
    expect(compareDecision(reached, config)).toBe('fail');
  });

  it('keeps a rejection: later healthy data does not turn a failed test back into a pass', () => {
    let state = fold([counts(100, 30, 900, 9)]);
    expect(compareDecision(state, config)).toBe('fail');
    for (let i = 0; i < 50; i++) state = updateCompareTest(state, counts(1_000, 0, 9_000, 900), config).state;
    expect(compareLogEvidence(state)).toBeLessThan(0);
    expect(compareDecision(state, config)).toBe('fail');
  });

  it('tolerates a canary within maxRatio: 1.1× the baseline rate for a long time passes', () => {
    const state = fold(Array.from({ length: 200 }, () => counts(1_000, 11, 9_000, 90)));
    expect(compareDecision(state, config)).toBe('pass');
  });

  it('refuses a nonsensical configuration', () => {
    expect(() =>
      updateCompareTest(initialCompareState(), counts(1, 0, 1, 0), { ...config, alpha: 0 }),
    ).toThrow(RangeError);
    expect(() =>
      updateCompareTest(initialCompareState(), counts(1, 0, 1, 0), { ...config, maxRatio: -1 }),
    ).toThrow(RangeError);
  });

  it('reports the observed rate ratio, undefined while a rate is', () => {
    expect(observedRatio(counts(100, 2, 900, 9))).toBeCloseTo(2, 10);
    expect(observedRatio(counts(100, 0, 900, 0))).toBe(1);
    expect(observedRatio(counts(100, 1, 900, 0))).toBeNull();
    expect(observedRatio(counts(0, 0, 900, 9))).toBeNull();
  });
});

describe('compare test: anytime validity (seeded Monte Carlo)', () => {
  const runs = 200;
  const steps = 150;
  const alpha = 0.1;
  const cfg: CompareTestConfig = { maxRatio: 1.5, alpha, minSample: 0 };

  function rejections(canaryRate: number, seed: number): number {
    const random = seeded(seed);
    let rejected = 0;
    for (let run = 0; run < runs; run++) {
      let state = initialCompareState();
      for (let step = 0; step < steps; step++) {
        const c = counts(20, 0, 180, 0);
        c.canaryFailures = binomial(random, c.canaryRequests, canaryRate);
        c.baselineFailures = binomial(random, c.baselineRequests, 0.02);
        state = updateCompareTest(state, c, cfg).state;
        // Looking after every interval and stopping at the first crossing: the optional stopping Ville allows.
        if (compareDecision(state, cfg) === 'fail') {
          rejected++;
          break;
        }
      }
    }
    return rejected;
  }

  it('at the tolerance boundary (θ = maxRatio), looking every interval rejects at most about alpha of runs', () => {
    // The bound is alpha = 0.1; 0.15 leaves room for Monte Carlo error on 200 runs (sd ≈ 0.021).
    expect(rejections(0.03, 1) / runs).toBeLessThanOrEqual(0.15);
  });

  it('well inside the null (equal rates) it rejects far less often', () => {
    expect(rejections(0.02, 2) / runs).toBeLessThanOrEqual(0.03);
  });

  it('has power: a canary failing 4× as often is caught in nearly every run', () => {
    expect(rejections(0.08, 3) / runs).toBeGreaterThanOrEqual(0.95);
  });
});
