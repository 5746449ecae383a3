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
    soak: 1500
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
        { percent: 90, soak: 1500, approval: false },
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

  it('YAML with a duplicate key (the second value must not silently win)', async () => {
    const file = write('duplicate.yaml', 'flag: safe-flag\nunleash:\n  environment: dev\nflag: other-flag\n');
    const error = await planError(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^not valid YAML: .*unique/);
  });

  it('YAML with a duplicate nested key', async () => {
    const file = write(
      'duplicate-nested.yaml',
      'flag: f\nunleash:\n  environment: dev\nstages:\n  - percent: 100\n    soak: 1s\n    soak: 7d\n',
    );
    const error = await planError(file);
    expect(error.problems[0]).toMatch(/^not valid YAML: .*unique/);
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
        'gates: []',
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
        'unknown option "gates"',
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
