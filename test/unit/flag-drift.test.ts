import {
  describeDrift,
  strategyDrift,
  type RolloutStrategySnapshot,
  type StrategyLookup,
} from '../../src/unleash/strategy-drift';

const baseline: RolloutStrategySnapshot = {
  environmentEnabled: true,
  strategyId: 'b9a1c1c4-0000-4000-8000-000000000001',
  strategyName: 'flexibleRollout',
  disabled: false,
  rollout: '50',
  groupId: 'unified-config',
  stickiness: 'userId',
  constraints: [],
  variants: [],
  segments: [],
  otherStrategies: [],
};

const now = (changes: Partial<RolloutStrategySnapshot>): StrategyLookup => ({
  found: true,
  snapshot: { ...baseline, ...changes },
});

describe('strategyDrift', () => {
  it('finds nothing when the strategy is as written (a copy, not the same object)', () => {
    expect(strategyDrift(baseline, now({}))).toEqual([]);
    expect(strategyDrift(baseline, { found: true, snapshot: structuredClone(baseline) })).toEqual([]);
  });

  it('names each edited scalar with the written and the current value', () => {
    expect(strategyDrift(baseline, now({ rollout: '70' }))).toEqual([
      { field: 'rollout', expected: '50', actual: '70' },
    ]);
    expect(
      strategyDrift(baseline, now({ groupId: 'other', stickiness: 'sessionId', strategyName: 'default' })),
    ).toEqual([
      { field: 'type', expected: 'flexibleRollout', actual: 'default' },
      { field: 'groupId', expected: 'unified-config', actual: 'other' },
      { field: 'stickiness', expected: 'userId', actual: 'sessionId' },
    ]);
  });

  it('reports a strategy or environment switched off', () => {
    expect(strategyDrift(baseline, now({ disabled: true, environmentEnabled: false }))).toEqual([
      { field: 'environment', expected: 'enabled', actual: 'disabled' },
      { field: 'disabled', expected: 'enabled', actual: 'disabled' },
    ]);
  });

  it('summarizes constraints: context, operator, the first values and the count', () => {
    const constraints = [
      { contextName: 'userId', operator: 'IN', values: ['a', 'b'] },
      {
        contextName: 'email',
        operator: 'STR_ENDS_WITH',
        values: ['@x.io', '@y.io', '@z.io', '@w.io'],
        inverted: true,
        caseInsensitive: true,
      },
      { contextName: 'appVersion', operator: 'SEMVER_GT', value: '1.2.0', values: [] },
    ];
    expect(strategyDrift(baseline, now({ constraints }))).toEqual([
      {
        field: 'constraints',
        expected: 'none',
        actual:
          'userId IN ["a","b"]; email NOT STR_ENDS_WITH ["@x.io","@y.io","@z.io",… 4 values] (case-insensitive); appVersion SEMVER_GT "1.2.0"',
      },
    ]);
  });

  it('marks a change the summary does not show, so the two texts never read the same', () => {
    const before = {
      ...baseline,
      constraints: [{ contextName: 'u', operator: 'IN', values: ['1', '2', '3', '4'] }],
    };
    const after = [{ contextName: 'u', operator: 'IN', values: ['1', '2', '3', '5'] }];
    const [difference] = strategyDrift(before, now({ constraints: after }));
    expect(difference).toEqual({
      field: 'constraints',
      expected: 'u IN ["1","2","3",… 4 values]',
      actual: 'u IN ["1","2","3",… 4 values] (changed in a detail not shown)',
    });
  });

  it('summarizes variants without their payload values', () => {
    const variants = [
      {
        name: 'blue',
        weight: 1000,
        weightType: 'variable',
        stickiness: 'default',
        payload: { type: 'string', value: 'sk-not-shown' },
      },
    ];
    const differences = strategyDrift(baseline, now({ variants }));
    expect(differences).toEqual([
      {
        field: 'variants',
        expected: 'none',
        actual: 'blue weight 1000 (variable) stickiness default payload string',
      },
    ]);
    expect(JSON.stringify(differences)).not.toContain('sk-not-shown');
  });

  it('reports segments and strategies added beside ours, and their removal', () => {
    const other = { id: 'x1', name: 'default', title: null };
    expect(strategyDrift(baseline, now({ segments: [3], otherStrategies: [other] }))).toEqual([
      { field: 'segments', expected: 'none', actual: 'segment 3' },
      { field: 'otherStrategies', expected: 'none', actual: 'default x1' },
    ]);
    const withOther = { ...baseline, otherStrategies: [{ id: 'x2', name: 'userWithId', title: 'beta' }] };
    expect(strategyDrift(withOther, now({}))).toEqual([
      { field: 'otherStrategies', expected: 'userWithId "beta"', actual: 'none' },
    ]);
  });

  it('reports a missing flag, a missing strategy and one re-created under our title', () => {
    expect(strategyDrift(baseline, { found: false, missing: 'flag' })).toEqual([
      { field: 'flag', expected: 'exists', actual: 'missing (deleted or archived)' },
    ]);
    expect(strategyDrift(baseline, { found: false, missing: 'strategy' })).toEqual([
      { field: 'strategy', expected: `strategy ${baseline.strategyId}`, actual: 'missing' },
    ]);
    expect(strategyDrift(baseline, now({ strategyId: 'new-id' }))).toEqual([
      { field: 'strategy', expected: `strategy ${baseline.strategyId}`, actual: 'strategy new-id' },
    ]);
  });

  it('bounds every text, whatever was written into Unleash', () => {
    const huge = 'x'.repeat(10_000);
    const constraints = Array.from({ length: 50 }, (_unused, i) => ({
      contextName: huge,
      operator: 'IN',
      values: Array.from({ length: 100 }, () => `${huge}${i}`),
    }));
    const differences = strategyDrift(
      baseline,
      now({ rollout: huge, groupId: huge, constraints, variants: constraints }),
    );
    expect(differences.map((d) => d.field)).toEqual(['rollout', 'groupId', 'constraints', 'variants']);
    for (const difference of differences) {
      expect(difference.expected.length).toBeLessThanOrEqual(160);
      expect(difference.actual.length).toBeLessThanOrEqual(160);
    }
    expect(JSON.stringify(differences).length).toBeLessThan(2_000);
  });

  it('describes the differences on one line', () => {
    expect(
      describeDrift(
        strategyDrift(
          baseline,
          now({ rollout: '70', constraints: [{ contextName: 'userId', operator: 'IN', values: ['a'] }] }),
        ),
      ),
    ).toBe('rollout 50 → 70; constraints none → userId IN ["a"]');
  });
});
