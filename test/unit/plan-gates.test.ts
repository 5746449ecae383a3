import {
  DEFAULT_ON_ESCALATION,
  DEFAULT_ROLLBACK_SCOPE,
  parseRolloutPlan,
  PlanError,
  rollbackScope,
  stagePolicy,
  toPlanInput,
  type RolloutPlan,
} from '../../src/plan/rollout-plan';

/**
 * The plan's gate side: named gate definitions (their own rules are src/gates' tests), which gates run in which
 * stage, escalation of human waits, and the rollback scope. Every problem is refused before anything starts,
 * with the path in the file.
 */

const base = { flag: 'unified-config', unleash: { environment: 'development' } };
const compare = { provider: 'compare', endpoint: 'http://127.0.0.1:8080/metrics', interval: '1s' };
const health = { provider: 'http', url: 'http://127.0.0.1:8080/readyz', interval: '5s' };
const gated = {
  ...base,
  gates: { errors: compare, health },
  stages: [
    { percent: 10, soak: '1m' },
    { percent: 50, soak: '2m', approval: true },
    { percent: 100, soak: '30s', gates: ['health'] },
  ],
};

function problemsOf(input: unknown): string[] {
  try {
    parseRolloutPlan(input, 'plan.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError);
    return (error as PlanError).problems;
  }
  throw new Error('the plan parsed, but it should have been refused');
}

const gateNames = (plan: RolloutPlan, index: number): string[] =>
  stagePolicy(plan, index).gates.map((gate) => gate.name);

describe('plans without gates', () => {
  it('parse exactly as before gates existed: no new keys in the plan or its stages', () => {
    const plan = parseRolloutPlan({
      ...base,
      stages: [{ percent: 50, soak: '1m', approval: true }, { percent: 100 }],
    });
    expect(Object.keys(plan).sort()).toEqual(['backup', 'flag', 'phases', 'stages', 'templates', 'unleash']);
    expect(plan.stages).toEqual([
      { percent: 50, soak: 60_000, approval: true },
      { percent: 100, soak: 300_000, approval: false },
    ]);
    expect(toPlanInput(plan)).toEqual({
      ...plan,
      stages: [
        { percent: 50, soak: '1m', approval: true },
        { percent: 100, soak: '5m', approval: false },
      ],
    });
  });

  it('resolve to stages with no gates, no escalation, and a full rollback', () => {
    const plan = parseRolloutPlan(base);
    expect(plan.stages.map((_stage, index) => stagePolicy(plan, index))).toEqual([
      { percent: 10, soak: 300_000, approval: false, gates: [], escalation: null },
      { percent: 50, soak: 300_000, approval: false, gates: [], escalation: null },
      { percent: 100, soak: 0, approval: false, gates: [], escalation: null },
    ]);
    expect(rollbackScope(plan)).toBe('full');
    expect(DEFAULT_ROLLBACK_SCOPE).toBe('full');
  });
});

describe('gates per stage', () => {
  it('runs every defined gate in a stage that soaks and lists none, and only the listed ones otherwise', () => {
    const plan = parseRolloutPlan(gated);
    expect(gateNames(plan, 0)).toEqual(['errors', 'health']);
    expect(gateNames(plan, 1)).toEqual(['errors', 'health']);
    expect(gateNames(plan, 2)).toEqual(['health']);
    expect(stagePolicy(plan, 0).gates[0]!.definition).toMatchObject({
      provider: 'compare',
      interval: 1_000,
      onFailure: 'rollback',
    });
  });

  it('runs no gate in a stage that does not soak (the default 100 % stage), and none with `gates: []`', () => {
    const plan = parseRolloutPlan({
      ...base,
      gates: { errors: compare },
      stages: [
        { percent: 10, soak: '1m', gates: [] },
        { percent: 50, soak: '1m' },
        { percent: 100, soak: 0 },
      ],
    });
    expect([0, 1, 2].map((index) => gateNames(plan, index))).toEqual([[], ['errors'], []]);
  });

  it('keeps the order a stage lists its gates in', () => {
    const plan = parseRolloutPlan({
      ...gated,
      stages: [
        { percent: 10, soak: '1m', gates: ['health', 'errors'] },
        { percent: 100, soak: 0 },
      ],
    });
    expect(gateNames(plan, 0)).toEqual(['health', 'errors']);
  });

  it('refuses a stage naming an undefined gate, or one gate twice, at the list index', () => {
    expect(
      problemsOf({
        ...gated,
        stages: [
          { percent: 10, soak: '1m', gates: ['errors', 'latency', 'errors'] },
          { percent: 100, soak: 0 },
        ],
      }),
    ).toEqual([
      'stages[0].gates[1]: no gate named "latency"; the plan defines "errors", "health"',
      'stages[0].gates[2]: gate "errors" is listed twice',
    ]);
  });

  it('refuses stage gates in a plan that defines none', () => {
    expect(problemsOf({ ...base, stages: [{ percent: 100, soak: '1m', gates: ['errors'] }] })).toEqual([
      'stages[0].gates[0]: no gate named "errors": the plan defines no gates (add them under gates:)',
    ]);
  });

  it('refuses gates listed on a stage without a soak: they would never measure', () => {
    expect(problemsOf({ ...gated, stages: [{ percent: 100, soak: '0s', gates: ['health'] }] })).toEqual([
      'stages[0].gates: gates measure during the soak, and this stage has none: give it a soak or drop its gates',
    ]);
  });

  it('refuses a compare gate at 100 %, where the baseline path has no users, naming the other gates', () => {
    expect(
      problemsOf({
        ...gated,
        stages: [
          { percent: 10, soak: '1m' },
          { percent: 100, soak: '1m' },
        ],
      }),
    ).toEqual([
      'stages[1].gates: compare gate "errors" has no baseline at 100 percent (every user is on the canary path); list this stage\'s gates without it, e.g. gates: [health]',
    ]);
  });

  it('refuses a soak too short for a gate to pass (interval × consecutiveSuccesses)', () => {
    const slow = { ...health, interval: '30s', consecutiveSuccesses: 3 };
    expect(
      problemsOf({
        ...base,
        gates: { slow },
        stages: [
          { percent: 50, soak: '1m' },
          { percent: 100, soak: 0 },
        ],
      }),
    ).toEqual([
      'stages[0].soak: soak 1m is shorter than gate "slow" needs to pass (interval 30s × consecutiveSuccesses 3)',
    ]);
    expect(
      parseRolloutPlan({
        ...base,
        gates: { slow },
        stages: [
          { percent: 50, soak: '90s' },
          { percent: 100, soak: 0 },
        ],
      }).stages[0]!.soak,
    ).toBe(90_000);
  });

  it.each([
    [['errors', 7], 'stages[0].gates[1]: gate names are strings'],
    ['errors', 'stages[0].gates: gates must be a list of gate names, e.g. gates: [errors, health]'],
  ])('refuses the stage gates %j', (gates, start) => {
    const problems = problemsOf({ ...gated, stages: [{ percent: 100, soak: '1m', gates }] });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.startsWith(start)).toBe(true);
  });
});

describe('gate definitions are checked with the plan, each problem at its path', () => {
  it.each([
    [
      { provider: 'datadog' },
      'gates.e.provider: unknown provider "datadog"; expected one of compare, metrics, prometheus, http, sql',
    ],
    [
      { url: 'http://x/h' },
      'gates.e.provider: provider is required (one of compare, metrics, prometheus, http, sql)',
    ],
    [{ provider: 'compare' }, 'gates.e.endpoint: endpoint is required (e.g. http://127.0.0.1:3000/metrics)'],
    [
      {
        provider: 'metrics',
        endpoint: 'http://x/m',
        numerator: 'a_total',
        denominator: 'b_total',
        threshold: '5%',
      },
      'gates.e.threshold: threshold must be a number (e.g. 0.05), got "5%"',
    ],
    [{ ...health, interval: 1 }, 'gates.e.interval: '],
    [{ ...health, colour: 'red' }, 'gates.e: unknown option "colour"'],
  ])('refuses the gate %j', (gate, start) => {
    const problems = problemsOf({ ...base, gates: { e: gate } });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.startsWith(start)).toBe(true);
  });

  it('quotes a gate name that is not a plain word in the path', () => {
    const problems = problemsOf({ ...base, gates: { 'Bad Name': health } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^gates\["Bad Name"\]: /);
  });

  it('refuses gates written as a list, explaining the map form', () => {
    expect(problemsOf({ ...base, gates: [compare] })).toEqual([
      'gates: gates must map gate names to definitions, e.g. gates: { errors: { provider: compare, endpoint: ... } }',
    ]);
  });

  it('lists gate problems together with every other problem of the plan', () => {
    const problems = problemsOf({
      ...base,
      flag: 'bad flag',
      gates: { e: { provider: 'compare' } },
      stages: [
        { percent: 50, soak: '1m', gates: ['x'] },
        { percent: 100, soak: 0 },
      ],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^flag: /),
        expect.stringMatching(/^gates\.e\.endpoint: /),
      ]),
    );
  });

  it('still names an undefined stage gate when another, unrelated part of the plan is wrong', () => {
    expect(
      problemsOf({ ...base, flag: 'bad flag', stages: [{ percent: 100, soak: '1m', gates: ['x'] }] }),
    ).toEqual([
      'flag: flag must be 1-100 characters of letters, digits, ".", "_" or "-"',
      'stages[0].gates[0]: no gate named "x": the plan defines no gates (add them under gates:)',
    ]);
  });
});

describe('escalation of human waits', () => {
  it('applies the plan default to every stage with a wait, a stage overriding it, rollback by default', () => {
    const plan = parseRolloutPlan({
      ...gated,
      escalateAfter: '30m',
      stages: [
        { percent: 10, soak: '1m', gates: [] },
        { percent: 20, soak: '1m', gates: [], approval: true },
        { percent: 50, soak: '2m', escalateAfter: '4h', onEscalation: 'hold' },
        { percent: 100, soak: '30s', gates: ['health'], onEscalation: 'proceed' },
      ],
    });
    expect([0, 1, 2, 3].map((index) => stagePolicy(plan, index).escalation)).toEqual([
      null,
      { afterMs: 1_800_000, action: DEFAULT_ON_ESCALATION },
      { afterMs: 14_400_000, action: 'hold' },
      { afterMs: 1_800_000, action: 'proceed' },
    ]);
    expect(DEFAULT_ON_ESCALATION).toBe('rollback');
  });

  it('uses the plan action for a stage that only sets its own time', () => {
    const plan = parseRolloutPlan({
      ...gated,
      onEscalation: 'hold',
      stages: [
        { percent: 10, soak: '1m', escalateAfter: '10m' },
        { percent: 100, soak: 0 },
      ],
    });
    expect(stagePolicy(plan, 0).escalation).toEqual({ afterMs: 600_000, action: 'hold' });
    expect(stagePolicy(plan, 1).escalation).toBeNull();
  });

  it('waits for an operator when no escalateAfter is given anywhere', () => {
    const plan = parseRolloutPlan(gated);
    expect(plan.stages.map((_stage, index) => stagePolicy(plan, index).escalation)).toEqual([
      null,
      null,
      null,
    ]);
  });

  it('refuses settings that would do nothing, and bad values, at their paths', () => {
    expect(problemsOf({ ...base, onEscalation: 'rollback' })).toEqual([
      'onEscalation: onEscalation needs escalateAfter (here or on a stage): how long a wait lasts before it applies',
    ]);
    expect(
      problemsOf({
        ...gated,
        stages: [
          { percent: 10, soak: '1m', gates: [], escalateAfter: '5m' },
          { percent: 100, soak: 0 },
        ],
      }),
    ).toEqual(['stages[0].escalateAfter: this stage has no human wait to escalate (no approval, no gates)']);
    expect(
      problemsOf({
        ...gated,
        stages: [
          { percent: 10, soak: '1m', onEscalation: 'hold' },
          { percent: 100, soak: 0 },
        ],
      }),
    ).toEqual([
      'stages[0].onEscalation: onEscalation needs escalateAfter (on this stage or the plan): how long a wait lasts first',
    ]);
    expect(problemsOf({ ...gated, escalateAfter: '0s' })).toEqual([
      'escalateAfter: escalateAfter must be longer than 0 (a duration such as 30s, 5m or 1h)',
    ]);
    expect(problemsOf({ ...gated, escalateAfter: 30 })).toEqual([
      'escalateAfter: escalateAfter must be a duration such as 30s, 5m or 1h; a bare number has no unit (got 30; units: ms, s, m, h)',
    ]);
    expect(problemsOf({ ...gated, escalateAfter: '1h', onEscalation: 'continue' })).toEqual([
      'onEscalation: onEscalation must be one of rollback, hold, proceed',
    ]);
  });
});

describe('rollback scope', () => {
  it.each([
    [{}, 'full'],
    [{ rollback: {} }, 'full'],
    [{ rollback: { scope: 'flag' } }, 'flag'],
    [{ rollback: { scope: 'full' } }, 'full'],
  ])('%j rolls back with scope %s', (extra, scope) => {
    expect(rollbackScope(parseRolloutPlan({ ...base, ...extra }))).toBe(scope);
  });

  it('refuses an unknown scope or option', () => {
    expect(problemsOf({ ...base, rollback: { scope: 'data' } })).toEqual([
      'rollback.scope: rollback.scope must be full or flag',
    ]);
    expect(problemsOf({ ...base, rollback: { scope: 'flag', dryRun: true } })).toEqual([
      'rollback: unknown option "dryRun"',
    ]);
  });
});

describe('toPlanInput with gates', () => {
  it('writes gate and escalation durations back with units, and re-parses to the same plan', () => {
    const plan = parseRolloutPlan({
      ...gated,
      escalateAfter: '90s',
      rollback: { scope: 'flag' },
      stages: [
        { percent: 10, soak: '1m', escalateAfter: '1234ms', onEscalation: 'hold' },
        { percent: 100, soak: 0 },
      ],
    });
    const input = toPlanInput(plan);
    expect(input).toMatchObject({
      escalateAfter: '1.5m',
      rollback: { scope: 'flag' },
      stages: [{ percent: 10, soak: '1m', escalateAfter: '1234ms', onEscalation: 'hold' }, { percent: 100 }],
      gates: {
        errors: { interval: '1s', timeout: '1s', inconclusiveLimit: '2m' },
        health: { interval: '5s' },
      },
    });
    expect(parseRolloutPlan(JSON.parse(JSON.stringify(input)))).toEqual(plan);
    // The parsed plan itself carries bare milliseconds, which a plan may not.
    expect(() => parseRolloutPlan(plan)).toThrow(PlanError);
  });

  it('does not share gate objects with the plan it was made from', () => {
    const plan = parseRolloutPlan(gated);
    const input = toPlanInput(plan) as { gates: Record<string, { url?: string }> };
    input.gates.health!.url = 'http://elsewhere/';
    expect((plan.gates!.health as { url: string }).url).toBe('http://127.0.0.1:8080/readyz');
  });
});
