import fc from 'fast-check';
import { durationText, formatDuration, parseDuration } from '../../src/plan/duration';
import {
  BACKUP_TABLES,
  parseRolloutPlan,
  PlanError,
  rolloutPlanSchema,
  toPlanInput,
  type RolloutPlan,
} from '../../src/plan/rollout-plan';

const MAX_SOAK_MS = 7 * 24 * 3_600_000;
const base = { flag: 'unified-config', unleash: { environment: 'development' } };

/** The problems of a plan that must be rejected; fails the test when it parses. */
function problemsOf(input: unknown, source = 'test-plan'): string[] {
  let thrown: unknown;
  try {
    parseRolloutPlan(input, source);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(PlanError);
  const error = thrown as PlanError;
  expect(error.name).toBe('PlanError');
  expect(error.source).toBe(source);
  // The message names the source and carries every problem, so the CLI can just print it.
  expect(error.message).toContain(source);
  for (const problem of error.problems) expect(error.message).toContain(problem);
  return error.problems;
}

function withStages(stages: unknown): unknown {
  return { ...base, stages };
}

describe('parseRolloutPlan: defaults', () => {
  it('fills in project, all three backup tables and the 10 → 50 → 100 stages', () => {
    const plan = parseRolloutPlan({ flag: 'unified-config', unleash: { environment: 'production' } });
    expect(plan).toEqual({
      flag: 'unified-config',
      unleash: { project: 'default', environment: 'production' },
      backup: { tables: ['runtime_config', 'prompt_templates', 'model_catalog'] },
      phases: { migrateKeys: true, migrateTemplates: true, seedModels: true },
      templates: { onInvalid: 'quarantine' },
      stages: [
        { percent: 10, soak: 300_000, approval: false },
        { percent: 50, soak: 300_000, approval: false },
        { percent: 100, soak: 0, approval: false },
      ],
    });
  });

  it('fills the backup tables when only `backup: {}` is given', () => {
    expect(parseRolloutPlan({ ...base, backup: {} }).backup.tables).toEqual([...BACKUP_TABLES]);
  });

  it('defaults a stage soak to 5 minutes', () => {
    expect(parseRolloutPlan(withStages([{ percent: 25 }, { percent: 100 }])).stages).toEqual([
      { percent: 25, soak: 300_000, approval: false },
      { percent: 100, soak: 300_000, approval: false },
    ]);
  });

  it('does not share default arrays between parses (a caller mutating one plan cannot change the next)', () => {
    const first = parseRolloutPlan(base);
    first.stages.push({ percent: 100, soak: 1, approval: false });
    first.stages[0]!.soak = 1;
    first.backup.tables.pop();
    const second = parseRolloutPlan(base);
    expect(second.stages).toEqual([
      { percent: 10, soak: 300_000, approval: false },
      { percent: 50, soak: 300_000, approval: false },
      { percent: 100, soak: 0, approval: false },
    ]);
    expect(second.backup.tables).toEqual([...BACKUP_TABLES]);
  });

  it('keeps an explicit project and a subset of backup tables', () => {
    const plan = parseRolloutPlan({
      flag: 'ai.unified_config-v2',
      unleash: { project: 'ai-platform', environment: 'staging_eu' },
      backup: { tables: ['model_catalog'] },
      phases: { migrateKeys: false, migrateTemplates: false },
      stages: [{ percent: 100, soak: '0s' }],
    });
    expect(plan.unleash).toEqual({ project: 'ai-platform', environment: 'staging_eu' });
    expect(plan.backup.tables).toEqual(['model_catalog']);
    expect(plan.flag).toBe('ai.unified_config-v2');
  });

  it('accepts an empty list of backup tables (ramp only)', () => {
    const plan = parseRolloutPlan({
      ...base,
      backup: { tables: [] },
      phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    });
    expect(plan.backup.tables).toEqual([]);
  });

  it('refuses a key migration without a backup of runtime_config, its only way back', () => {
    expect(() => parseRolloutPlan({ ...base, backup: { tables: ['model_catalog'] } })).toThrow(
      'backup.tables: the key migration (phases.migrateKeys) needs runtime_config in backup.tables',
    );
  });

  it('is what rolloutPlanSchema parses', () => {
    const input = withStages([{ percent: 30, soak: '1m' }, { percent: 100 }]);
    expect(parseRolloutPlan(input)).toEqual(rolloutPlanSchema.parse(input));
  });
});

describe('parseRolloutPlan: durations', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['0s', 0],
    ['0ms', 0],
    ['1.5s', 1_500],
    ['168h', MAX_SOAK_MS],
    [' 5m ', 300_000],
    ['1234ms', 1_234],
    // Zero is the same in every unit, so it alone may be written bare.
    [0, 0],
    ['0', 0],
  ])('soak %j is %d ms', (soak, ms) => {
    const plan = parseRolloutPlan(withStages([{ percent: 100, soak }]));
    expect(plan.stages).toEqual([{ percent: 100, soak: ms, approval: false }]);
  });

  it.each([
    ['5 minutes'],
    ['-1s'],
    ['1d'],
    ['m'],
    ['5M'],
    ['1e3ms'],
    ['.5s'],
    ['5m30s'],
    [''],
    ['Infinityh'],
  ])('rejects the soak %j with a message naming the path and the value', (soak) => {
    const problems = problemsOf(
      withStages([
        { percent: 50, soak: '1m' },
        { percent: 100, soak },
      ]),
    );
    expect(problems).toEqual([
      `stages[1].soak: soak must be a duration such as 30s, 5m or 1h, got "${soak}"`,
    ]);
  });

  // `soak: 30` used to be read as 30 ms; an author who wrote it meant seconds or minutes. Refused, naming units.
  it.each([[30], [1_234], [MAX_SOAK_MS], [-1], [1.5], ['30'], [' 5 '], ['-1'], ['1.5']])(
    'rejects the bare number %j: it has no unit',
    (soak) => {
      const problems = problemsOf(withStages([{ percent: 100, soak }]));
      const shown = typeof soak === 'string' ? `"${soak}"` : String(soak);
      expect(problems).toEqual([
        `stages[0].soak: soak must be a duration such as 30s, 5m or 1h; a bare number has no unit (got ${shown}; units: ms, s, m, h)`,
      ]);
    },
  );

  it('rejects `8d` (days are not a unit, and 8 days is over the limit anyway)', () => {
    const problems = problemsOf(withStages([{ percent: 100, soak: '8d' }]));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^stages\[0\]\.soak: .*8d/);
  });

  it.each([['169h'], ['10081m'], ['604800001ms'], ['99999999999999999999h']])(
    'rejects %j as over the 7-day limit',
    (soak) => {
      expect(problemsOf(withStages([{ percent: 100, soak }]))).toEqual([
        'stages[0].soak: soak must be at most 7 days',
      ]);
    },
  );

  // Not zod's bare "Invalid input": the author is told what a duration looks like.
  it.each([[true], [null], [{ s: 30 }], [['30s']]])('explains why the soak %j is not a duration', (soak) => {
    const problems = problemsOf(withStages([{ percent: 100, soak }]));
    expect(problems).toEqual([
      `stages[0].soak: soak must be a duration such as 30s, 5m or 1h, got ${JSON.stringify(soak)}`,
    ]);
  });

  describe('parseDuration / formatDuration', () => {
    it('round-trips whole units', () => {
      for (const ms of [0, 250, 1_000, 1_500, 30_000, 300_000, 5_400_000, MAX_SOAK_MS]) {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }
    });

    it('formats for display', () => {
      expect(formatDuration(300_000)).toBe('5m');
      expect(formatDuration(1_500)).toBe('1.5s');
      expect(formatDuration(5_400_000)).toBe('1.5h');
      expect(formatDuration(250)).toBe('250ms');
    });

    it('durationText writes the short form when it reads back exactly, else whole milliseconds', () => {
      expect(durationText(300_000)).toBe('5m');
      expect(durationText(5_400_000)).toBe('1.5h');
      expect(durationText(0)).toBe('0ms');
      expect(durationText(1_234)).toBe('1234ms');
      expect(durationText(3_600_001)).toBe('3600001ms');
      fc.assert(
        fc.property(fc.integer({ min: 0, max: MAX_SOAK_MS }), (ms) => {
          expect(parseDuration(durationText(ms))).toBe(ms);
        }),
        { numRuns: 2_000 },
      );
    });

    it('returns undefined for malformed text', () => {
      for (const text of ['', '5', '5 m', '-1s', '1d', 'ms', '1.s'])
        expect(parseDuration(text)).toBeUndefined();
    });
  });
});

describe('toPlanInput', () => {
  it('writes durations back with units, so the workflow can validate the plan the CLI validated', () => {
    const plan = parseRolloutPlan(
      withStages([
        { percent: 10, soak: '90s' },
        { percent: 50, soak: '1234ms' },
        { percent: 100, soak: 0, approval: true },
      ]),
    );
    const input = toPlanInput(plan);
    expect(input.stages).toEqual([
      { percent: 10, soak: '1.5m', approval: false },
      { percent: 50, soak: '1234ms', approval: false },
      { percent: 100, soak: '0ms', approval: true },
    ]);
    expect(parseRolloutPlan(JSON.parse(JSON.stringify(input)))).toEqual(plan);
    // The parsed plan itself carries bare milliseconds, which a plan may not.
    expect(() => parseRolloutPlan(plan)).toThrow('a bare number has no unit (got 90000;');
  });

  it('does not share objects with the plan it was made from', () => {
    const plan = parseRolloutPlan(base);
    const input = toPlanInput(plan);
    (input.backup as { tables: string[] }).tables.pop();
    (input.unleash as { project: string }).project = 'other';
    expect(plan.backup.tables).toEqual([...BACKUP_TABLES]);
    expect(plan.unleash.project).toBe('default');
  });
});

describe('parseRolloutPlan: stages', () => {
  it('rejects non-increasing stages at the offending index', () => {
    expect(problemsOf(withStages([{ percent: 50 }, { percent: 10 }, { percent: 100 }]))).toEqual([
      'stages[1].percent: stages must increase: 10 follows 50',
    ]);
  });

  it('rejects a duplicate percent', () => {
    expect(problemsOf(withStages([{ percent: 50 }, { percent: 50 }, { percent: 100 }]))).toEqual([
      'stages[1].percent: stages must increase: 50 follows 50',
    ]);
  });

  it('rejects a duplicate 100', () => {
    expect(problemsOf(withStages([{ percent: 100 }, { percent: 100 }]))).toEqual([
      'stages[1].percent: stages must increase: 100 follows 100',
    ]);
  });

  it.each([
    [0, 'percent must be at least 1'],
    [-5, 'percent must be at least 1'],
    [101, 'percent must be at most 100'],
    [12.5, 'percent must be a whole number'],
  ])('rejects percent %d', (percent, message) => {
    const problems = problemsOf(withStages([{ percent }, { percent: 100 }]));
    expect(problems).toContain(`stages[0].percent: ${message}`);
  });

  it('rejects a percent given as a string at its path', () => {
    const problems = problemsOf(withStages([{ percent: '10' }, { percent: 100 }]));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^stages\[0\]\.percent: .*number/);
  });

  it('rejects a last stage below 100', () => {
    expect(problemsOf(withStages([{ percent: 10 }, { percent: 50 }]))).toEqual([
      'stages[1].percent: the last stage must be 100 percent',
    ]);
  });

  it('rejects an empty list of stages', () => {
    expect(problemsOf(withStages([]))).toEqual(['stages: a plan needs at least one stage']);
  });

  it('rejects more than 20 stages and accepts exactly 20', () => {
    const stages = (n: number) => Array.from({ length: n }, (_, i) => ({ percent: 100 - n + 1 + i }));
    expect(parseRolloutPlan(withStages(stages(20))).stages).toHaveLength(20);
    expect(problemsOf(withStages(stages(21)))).toEqual(['stages: a plan has at most 20 stages']);
  });

  it('accepts a single 100 % stage', () => {
    expect(parseRolloutPlan(withStages([{ percent: 100, soak: '0s' }])).stages).toEqual([
      { percent: 100, soak: 0, approval: false },
    ]);
  });

  it('rejects stages that is not a list', () => {
    const problems = problemsOf(withStages({ percent: 100 }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^stages: /);
  });
});

describe('parseRolloutPlan: identifiers (no injection)', () => {
  it.each([
    ["x'; drop table runtime_config; --"],
    ['unified config'],
    ['../admin'],
    ['flag/../../x'],
    ['-leading-dash'],
    ['.hidden'],
    [''],
    ['a'.repeat(101)],
    ['flag\n'],
    ['flag%20x'],
    ['flag"'],
    ['flägg'],
  ])('rejects the flag %j', (flag) => {
    expect(problemsOf({ ...base, flag })).toEqual([
      'flag: flag must be 1-100 characters of letters, digits, ".", "_" or "-"',
    ]);
  });

  it('accepts a flag of exactly 100 characters', () => {
    expect(parseRolloutPlan({ ...base, flag: 'a'.repeat(100) }).flag).toHaveLength(100);
  });

  it.each([['../admin'], ['prod env'], ["dev'--"], ['dev.prod'], [''], ['a/b']])(
    'rejects the environment %j',
    (environment) => {
      expect(problemsOf({ ...base, unleash: { environment } })).toEqual([
        'unleash.environment: environment must be an Unleash environment name',
      ]);
    },
  );

  it.each([['my project'], ['../default'], ["default'; --"], ['']])('rejects the project %j', (project) => {
    expect(problemsOf({ ...base, unleash: { project, environment: 'development' } })).toEqual([
      'unleash.project: project must be an Unleash project id',
    ]);
  });

  it.each([['pg_authid'], ['runtime_config; drop'], ['Runtime_Config'], ['public.runtime_config'], ['']])(
    'rejects the backup table %j',
    (table) => {
      expect(problemsOf({ ...base, backup: { tables: ['runtime_config', table] } })).toEqual([
        'backup.tables[1]: backup tables must be among runtime_config, prompt_templates, model_catalog',
      ]);
    },
  );

  it('rejects a repeated backup table', () => {
    const tables = ['runtime_config', 'prompt_templates', 'runtime_config'];
    expect(problemsOf({ ...base, backup: { tables } })).toEqual([
      'backup.tables: backup tables must not repeat',
    ]);
  });

  it('rejects a missing flag and environment, naming each path', () => {
    const problems = problemsOf({ unleash: {} });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^flag: /);
    expect(problems[1]).toMatch(/^unleash\.environment: /);
  });

  it.each([[null], ['flag: x'], [42], [[]]])('rejects the non-object plan %j', (input) => {
    expect(problemsOf(input)).toHaveLength(1);
  });
});

describe('parseRolloutPlan: unknown options', () => {
  it('reports unknown top-level keys (not yet supported or misspelt) as unknown options', () => {
    expect(problemsOf({ ...base, gate: { errors: { provider: 'metrics' } } })).toEqual([
      'unknown option "gate"',
    ]);
    expect(problemsOf({ ...base, stage: [{ percent: 100 }] })).toEqual(['unknown option "stage"']);
    expect(problemsOf({ ...base, gate: {}, stage: [] })).toEqual(['unknown options "gate", "stage"']);
  });

  it('reports unknown keys inside nested objects with their path', () => {
    expect(problemsOf(withStages([{ percent: 100, soak: '1m', gate: 'x' }]))).toEqual([
      'stages[0]: unknown option "gate"',
    ]);
    expect(problemsOf({ ...base, unleash: { environment: 'dev', enviroment: 'prod' } })).toEqual([
      'unleash: unknown option "enviroment"',
    ]);
    expect(problemsOf({ ...base, backup: { table: ['runtime_config'] } })).toEqual([
      'backup: unknown option "table"',
    ]);
  });
});

describe('PlanError lists every problem at once', () => {
  it('reports all field problems of one plan together', () => {
    const problems = problemsOf({
      flag: 'x y',
      unleash: { project: 'a b', environment: '../admin' },
      backup: { tables: ['pg_authid'] },
      stages: [{ percent: 50 }, { percent: 10 }],
      canary: [],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^flag: /),
        expect.stringMatching(/^unleash\.project: /),
        expect.stringMatching(/^unleash\.environment: /),
        expect.stringMatching(/^backup\.tables\[0\]: /),
        'stages[1].percent: stages must increase: 10 follows 50',
        'stages[1].percent: the last stage must be 100 percent',
        'unknown option "canary"',
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  it('reports every bad stage, not only the first', () => {
    const problems = problemsOf(
      withStages([
        { percent: 0, soak: '5 minutes' },
        { percent: 101, soak: '1d' },
        { percent: 12.5, soak: '-1s' },
      ]),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'stages[0].percent: percent must be at least 1',
        expect.stringMatching(/^stages\[0\]\.soak: .*5 minutes/),
        'stages[1].percent: percent must be at most 100',
        expect.stringMatching(/^stages\[1\]\.soak: .*1d/),
        'stages[2].percent: percent must be a whole number',
        expect.stringMatching(/^stages\[2\]\.soak: .*-1s/),
      ]),
    );
  });

  // The ordering rules must not disappear just because another field is also wrong: an operator fixing the
  // plan should see the whole list in one run, not discover the stage order problem on the second attempt.
  it('still reports non-increasing stages when a soak is malformed', () => {
    const problems = problemsOf(
      withStages([
        { percent: 50, soak: '5 minutes' },
        { percent: 10, soak: '1m' },
        { percent: 100, soak: '1m' },
      ]),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^stages\[0\]\.soak: /),
        'stages[1].percent: stages must increase: 10 follows 50',
      ]),
    );
  });

  it('still reports non-increasing stages next to an unknown option', () => {
    const problems = problemsOf({
      ...(withStages([{ percent: 50 }, { percent: 10 }, { percent: 100 }]) as object),
      canary: [],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'unknown option "canary"',
        'stages[1].percent: stages must increase: 10 follows 50',
      ]),
    );
  });

  it('still reports stage problems when the flag is missing', () => {
    const problems = problemsOf({
      unleash: { environment: 'development' },
      stages: [{ percent: 50 }, { percent: 10 }],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^flag: /),
        'stages[1].percent: stages must increase: 10 follows 50',
        'stages[1].percent: the last stage must be 100 percent',
      ]),
    );
  });

  it('formats the message as one line per problem under the source', () => {
    const error = new PlanError('plan.yaml', ['flag: bad', 'stages: empty']);
    expect(error.message).toBe('invalid rollout plan plan.yaml:\n  - flag: bad\n  - stages: empty');
    expect(error).toBeInstanceOf(Error);
  });
});

describe('parseRolloutPlan: property', () => {
  const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
  /** A duration as a plan author writes it, within the 7-day limit, with the ms it means. */
  const durationArb: fc.Arbitrary<{ written: string | number; ms: number }> = fc.oneof(
    fc.constant({ written: 0, ms: 0 }),
    fc
      .constantFrom(...(Object.keys(unitMs) as (keyof typeof unitMs)[]))
      .chain((unit) =>
        fc
          .integer({ min: 0, max: Math.floor(MAX_SOAK_MS / unitMs[unit]) })
          .map((n) => ({ written: `${n}${unit}`, ms: n * unitMs[unit] })),
      ),
    // One decimal place, e.g. 1.5h, kept within the limit.
    fc.constantFrom('s', 'm', 'h' as const).chain((unit) =>
      fc.integer({ min: 0, max: Math.floor((MAX_SOAK_MS / unitMs[unit]) * 10) }).map((tenths) => ({
        written: `${Math.floor(tenths / 10)}.${tenths % 10}${unit}`,
        ms: Math.round((tenths / 10) * unitMs[unit]),
      })),
    ),
  );

  const stagesArb = fc
    .uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 19 })
    .map((percents) => [...percents.sort((a, b) => a - b), 100])
    .chain((percents) =>
      fc.tuple(
        fc.constant(percents),
        fc.array(durationArb, { minLength: percents.length, maxLength: percents.length }),
      ),
    );

  it('parses any strictly increasing 1..100 list ending at 100 with valid durations, and re-parsing is idempotent', () => {
    fc.assert(
      fc.property(stagesArb, ([percents, durations]) => {
        const input = withStages(percents.map((percent, i) => ({ percent, soak: durations[i]!.written })));
        const plan: RolloutPlan = parseRolloutPlan(input);
        expect(plan.stages.map((s) => s.percent)).toEqual(percents);
        plan.stages.forEach((stage, i) => {
          expect(Math.abs(stage.soak - durations[i]!.ms)).toBeLessThanOrEqual(1);
          expect(Number.isInteger(stage.soak)).toBe(true);
        });
        // The workflow re-validates the plan it is given (as JSON): written back as input, it must mean the same.
        const again = parseRolloutPlan(JSON.parse(JSON.stringify(toPlanInput(plan))));
        expect(again).toEqual(plan);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects any list that is not strictly increasing', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 20 })
          .filter((percents) => percents.some((p, i) => i > 0 && p <= percents[i - 1]!)),
        (percents) => {
          const problems = problemsOf(withStages([...percents.map((percent) => ({ percent }))]));
          expect(problems.some((p) => p.includes('stages must increase'))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
