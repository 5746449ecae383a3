import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlanFile } from '../../src/plan/load-plan-file';
import { PlanError } from '../../src/plan/rollout-plan';

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-file-test-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Loads a plan that must fail and returns the PlanError; checks that it names the file. */
async function planError(file: string): Promise<PlanError> {
  const error: unknown = await loadPlanFile(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PlanError);
  const planError = error as PlanError;
  expect(planError.source).toBe(file);
  expect(planError.message).toContain(file);
  expect(planError.message.startsWith(`invalid rollout plan ${file}:`)).toBe(true);
  expect(planError.problems.length).toBeGreaterThan(0);
  return planError;
}

const GOOD_YAML = `# ramp the unified configuration
flag: unified-config
unleash:
  project: default
  environment: development
backup:
  tables: [runtime_config, prompt_templates]
stages:
  - percent: 10
    soak: 30s
  - percent: 50
    soak: 1.5h
  - percent: 90
    soak: 1500ms
  - percent: 100
    soak: 250ms
`;

const EXPECTED = {
  flag: 'unified-config',
  unleash: { project: 'default', environment: 'development' },
  backup: { tables: ['runtime_config', 'prompt_templates'] },
  phases: { migrateKeys: true, migrateTemplates: true, seedModels: true },
  templates: { onInvalid: 'quarantine' },
  stages: [
    { percent: 10, soak: 30_000, approval: false },
    { percent: 50, soak: 5_400_000, approval: false },
    { percent: 90, soak: 1_500, approval: false },
    { percent: 100, soak: 250, approval: false },
  ],
};

describe('loadPlanFile: good files', () => {
  it('loads a YAML plan, converting durations to milliseconds', async () => {
    expect(await loadPlanFile(write('good.yaml', GOOD_YAML))).toEqual(EXPECTED);
  });

  it('loads a .yml plan the same way', async () => {
    expect(await loadPlanFile(write('good.yml', GOOD_YAML))).toEqual(EXPECTED);
  });

  it('loads a JSON plan with the same meaning', async () => {
    const json = {
      flag: 'unified-config',
      unleash: { project: 'default', environment: 'development' },
      backup: { tables: ['runtime_config', 'prompt_templates'] },
      stages: [
        { percent: 10, soak: '30s' },
        { percent: 50, soak: '1.5h' },
        { percent: 90, soak: '1500ms', approval: false },
        { percent: 100, soak: '250ms' },
      ],
    };
    expect(await loadPlanFile(write('good.json', JSON.stringify(json, null, 2)))).toEqual(EXPECTED);
  });

  it('fills in the defaults for a minimal YAML plan', async () => {
    const plan = await loadPlanFile(write('minimal.yaml', 'flag: f1\nunleash:\n  environment: production\n'));
    expect(plan).toEqual({
      flag: 'f1',
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

  it('keeps a YAML string that looks like a number (quoted) as a string flag', async () => {
    const plan = await loadPlanFile(write('quoted.yaml', 'flag: "2024"\nunleash: { environment: dev }\n'));
    expect(plan.flag).toBe('2024');
  });
});

describe('loadPlanFile: bad files are PlanErrors naming the file', () => {
  it('a missing file', async () => {
    const file = path.join(dir, 'does-not-exist.yaml');
    const error = await planError(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^cannot read the file: .*ENOENT/);
  });

  it('a directory instead of a file', async () => {
    const error = await planError(dir);
    expect(error.problems[0]).toMatch(/^cannot read the file: /);
  });

  it('YAML indented with a tab', async () => {
    const file = write('tab.yaml', 'flag: x\nunleash:\n\tenvironment: dev\n');
    const error = await planError(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^not valid YAML: .*[Tt]ab/);
    expect(error.problems[0]).toMatch(/line 3/);
  });

  it('YAML with an unclosed bracket', async () => {
    const file = write(
      'bracket.yaml',
      'flag: x\nunleash: { environment: dev }\nstages: [ { percent: 100 }\n',
    );
    const error = await planError(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^not valid YAML: /);
  });

  it('YAML with a duplicate key (the second value must not silently win), naming the key and its lines', async () => {
    const file = write('duplicate.yaml', 'flag: safe-flag\nunleash:\n  environment: dev\nflag: other-flag\n');
    const error = await planError(file);
    expect(error.problems).toEqual([
      'duplicate key "flag" at line 4, column 1 (first at line 1, column 1); give each option once',
    ]);
  });

  it('YAML with a duplicate nested key, at its path', async () => {
    const file = write(
      'duplicate-nested.yaml',
      'flag: f\nunleash:\n  environment: dev\nstages:\n  - percent: 100\n    soak: 1s\n    soak: 7d\n',
    );
    const error = await planError(file);
    expect(error.problems).toEqual([
      'stages[0]: duplicate key "soak" at line 7, column 5 (first at line 6, column 5); give each option once',
    ]);
  });

  it('YAML with a duplicate key in a flow mapping', async () => {
    const file = write('duplicate-flow.yaml', 'flag: f\nunleash: { environment: dev, environment: prod }\n');
    const error = await planError(file);
    expect(error.problems).toEqual([
      'unleash: duplicate key "environment" at line 2, column 30 (first at line 2, column 12); give each option once',
    ]);
  });

  it('YAML with an alias to an anchor that does not exist', async () => {
    const error = await planError(write('alias.yaml', 'flag: *nope\nunleash: { environment: dev }\n'));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^not valid YAML: .*nope/);
  });

  // JSON.parse keeps the last of two equal keys without a word; a plan file must not.
  it('JSON with a duplicate top-level key, naming the key and its lines', async () => {
    const file = write(
      'duplicate.json',
      [
        '{',
        '  "flag": "safe-flag",',
        '  "unleash": { "environment": "dev" },',
        '  "flag": "other-flag"',
        '}',
      ].join('\n'),
    );
    const error = await planError(file);
    expect(error.problems).toEqual([
      'duplicate key "flag" at line 4, column 3 (first at line 2, column 3); give each option once',
    ]);
  });

  it('JSON with duplicate nested keys reports each, in file order, at its path', async () => {
    const json = [
      '{',
      '\t"flag": "f",',
      '\t"unleash": {"environment": "dev", "environment": "prod"},',
      '\t"stages": [',
      '\t\t{"percent": 100, "soak": "1s", "approval": false, "soak": "7d"}',
      '\t]',
      '}',
    ].join('\r\n');
    const error = await planError(write('duplicate-nested.json', json));
    expect(error.problems).toEqual([
      'unleash: duplicate key "environment" at line 3, column 36 (first at line 3, column 14); give each option once',
      'stages[0]: duplicate key "soak" at line 5, column 53 (first at line 5, column 20); give each option once',
    ]);
  });

  it('JSON with a duplicate key spelt with an escape is still a duplicate', async () => {
    const file = write('escaped.json', '{"flag": "f", "fl\\u0061g": "g", "unleash": {"environment": "dev"}}');
    const error = await planError(file);
    expect(error.problems).toEqual([
      'duplicate key "flag" at line 1, column 15 (first at line 1, column 2); give each option once',
    ]);
  });

  it('the same key in different mappings is not a duplicate', async () => {
    const json = JSON.stringify({
      flag: 'f',
      unleash: { environment: 'dev' },
      stages: [
        { percent: 50, soak: '1s' },
        { percent: 100, soak: '1s' },
      ],
    });
    const plan = await loadPlanFile(write('not-duplicate.json', json));
    expect(plan.stages.map((s) => s.soak)).toEqual([1_000, 1_000]);
  });

  it('a YAML soak written as a bare number is refused, naming the units', async () => {
    const file = write(
      'bare-soak.yaml',
      'flag: f\nunleash: { environment: dev }\nstages:\n  - percent: 100\n    soak: 30\n',
    );
    const error = await planError(file);
    expect(error.problems).toEqual([
      'stages[0].soak: soak must be a duration such as 30s, 5m or 1h; a bare number has no unit (got 30; units: ms, s, m, h)',
    ]);
  });

  it('a JSON soak written as a bare number (or a numeric string) is refused', async () => {
    const json = JSON.stringify({
      flag: 'f',
      unleash: { environment: 'dev' },
      stages: [
        { percent: 50, soak: 30 },
        { percent: 100, soak: '30' },
      ],
    });
    const error = await planError(write('bare-soak.json', json));
    expect(error.problems).toEqual([
      'stages[0].soak: soak must be a duration such as 30s, 5m or 1h; a bare number has no unit (got 30; units: ms, s, m, h)',
      'stages[1].soak: soak must be a duration such as 30s, 5m or 1h; a bare number has no unit (got "30"; units: ms, s, m, h)',
    ]);
  });

  it('a soak of 0 needs no unit', async () => {
    const file = write(
      'zero-soak.yaml',
      'flag: f\nunleash: { environment: dev }\nstages: [{ percent: 100, soak: 0 }]\n',
    );
    expect((await loadPlanFile(file)).stages).toEqual([{ percent: 100, soak: 0, approval: false }]);
  });

  it('YAML with several documents', async () => {
    const file = write('multi.yaml', 'flag: a\nunleash: { environment: dev }\n---\nflag: b\n');
    const error = await planError(file);
    expect(error.problems[0]).toMatch(/^not valid YAML: /);
  });

  it('an empty YAML file', async () => {
    const error = await planError(write('empty.yaml', ''));
    expect(error.problems).toHaveLength(1);
  });

  it('JSON with a comment (YAML would accept it, JSON does not)', async () => {
    const file = write('comment.json', '{ "flag": "x", # a comment\n "unleash": { "environment": "dev" } }');
    const error = await planError(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^not valid JSON: /);
  });

  it('invalid JSON', async () => {
    const file = write('bad.json', '{ "flag": "x", }');
    const error = await planError(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^not valid JSON: /);
  });

  it('invalid JSON in a file with an upper-case .JSON extension is reported as JSON, not YAML', async () => {
    const file = write('UPPER.JSON', '{ "flag": "x", }');
    const error = await planError(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^not valid JSON: /);
  });

  it('a well-formed file with an invalid plan lists the plan problems under the file name', async () => {
    const file = write(
      'invalid-plan.yaml',
      [
        "flag: x'; drop table runtime_config; --",
        'unleash:',
        '  environment: ../admin',
        'canary: []',
        'stages:',
        '  - percent: 50',
        '    soak: 5 minutes',
        '  - percent: 100',
        '    soak: 8d',
        '',
      ].join('\n'),
    );
    const error = await planError(file);
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^flag: /),
        expect.stringMatching(/^unleash\.environment: /),
        'unknown option "canary"',
        expect.stringMatching(/^stages\[0\]\.soak: .*5 minutes/),
        expect.stringMatching(/^stages\[1\]\.soak: .*8d/),
      ]),
    );
  });

  it('a JSON plan with an unknown option', async () => {
    const file = write(
      'unknown.json',
      JSON.stringify({ flag: 'f', unleash: { environment: 'dev' }, stage: [] }),
    );
    const error = await planError(file);
    expect(error.problems).toEqual(['unknown option "stage"']);
  });

  it('a YAML number where a flag name is expected', async () => {
    const error = await planError(write('number-flag.yaml', 'flag: 1e3\nunleash: { environment: dev }\n'));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^flag: /);
  });
});
