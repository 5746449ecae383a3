import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlanFile } from '../../src/plan/load-plan-file';
import { PlanError, rollbackScope, stagePolicy } from '../../src/plan/rollout-plan';

/** Gated plans as files: the demo's, the README's example, and the mistakes only a file can make. */

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-gates-file-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

async function problemsOf(file: string): Promise<string[]> {
  const error: unknown = await loadPlanFile(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PlanError);
  expect((error as PlanError).message.startsWith(`invalid rollout plan ${file}:`)).toBe(true);
  return (error as PlanError).problems;
}

/** The example plan of the README's "Plan format" section, word for word. */
const README_EXAMPLE = `flag: unified-config
unleash:
  project: default
  environment: production
gates:
  errors:                      # unified vs legacy on the service's /metrics
    provider: compare
    endpoint: http://config-service:8080/metrics
    maxRatio: 1.2              # unified may fail up to 1.2 x as often as legacy
    alpha: 0.01                # false-alarm level
    minSample: 200             # requests per path before it judges
    interval: 1s
  health:
    provider: http
    url: http://config-service:8080/readyz
    interval: 5s
    failureLimit: 3
    onFailure: hold            # pause at the stage instead of rolling back
escalateAfter: 30m             # every human wait, unless a stage says otherwise
onEscalation: rollback
rollback:
  scope: full                  # or flag: the flag only, migrated data stays
stages:
  - percent: 5
    soak: 10m
  - percent: 25
    soak: 30m
    approval: true
    escalateAfter: 4h
    onEscalation: hold
  - percent: 50
    soak: 30m
  - percent: 100
    soak: 15m
    gates: [health]            # no legacy traffic left to compare with
`;

describe('gated plan files', () => {
  it('loads the README example with the meaning the README gives it', async () => {
    const plan = await loadPlanFile(write('readme.yaml', README_EXAMPLE));
    expect(rollbackScope(plan)).toBe('full');
    const policies = plan.stages.map((_stage, index) => stagePolicy(plan, index));
    expect(
      policies.map((p) => ({
        percent: p.percent,
        gates: p.gates.map((g) => g.name),
        approval: p.approval,
        escalation: p.escalation,
      })),
    ).toEqual([
      {
        percent: 5,
        gates: ['errors', 'health'],
        approval: false,
        escalation: { afterMs: 1_800_000, action: 'rollback' },
      },
      {
        percent: 25,
        gates: ['errors', 'health'],
        approval: true,
        escalation: { afterMs: 14_400_000, action: 'hold' },
      },
      {
        percent: 50,
        gates: ['errors', 'health'],
        approval: false,
        escalation: { afterMs: 1_800_000, action: 'rollback' },
      },
      {
        percent: 100,
        gates: ['health'],
        approval: false,
        escalation: { afterMs: 1_800_000, action: 'rollback' },
      },
    ]);
    expect(policies[0]!.gates[0]!.definition).toMatchObject({
      provider: 'compare',
      maxRatio: 1.2,
      alpha: 0.01,
      minSample: 200,
      interval: 1_000,
      onFailure: 'rollback',
    });
    expect(policies[0]!.gates[1]!.definition).toMatchObject({ failureLimit: 3, onFailure: 'hold' });
  });

  it('loads the demo plan: compare and http gates, compare left out at 100 %', async () => {
    const plan = await loadPlanFile(path.join(__dirname, '../../src/demo/demo-plan.yaml'));
    expect(Object.values(plan.gates ?? {}).map((gate) => gate.provider)).toEqual(['compare', 'http']);
    expect(plan.stages.map((_stage, index) => stagePolicy(plan, index).gates.map((g) => g.name))).toEqual([
      ['errors', 'health'],
      ['errors', 'health'],
      ['health'],
    ]);
  });

  it('refuses a gate defined twice, naming both lines (the second must not silently win)', async () => {
    const file = write(
      'twice.yaml',
      [
        'flag: f',
        'unleash: { environment: dev }',
        'gates:',
        '  health: { provider: http, url: "http://a/readyz" }',
        '  health: { provider: http, url: "http://b/readyz" }',
        '',
      ].join('\n'),
    );
    expect(await problemsOf(file)).toEqual([
      'gates: duplicate key "health" at line 5, column 3 (first at line 4, column 3); give each option once',
    ]);
  });

  it('refuses a key given twice inside a gate, at the gate path', async () => {
    const file = write(
      'twice-inside.yaml',
      [
        'flag: f',
        'unleash: { environment: dev }',
        'gates:',
        '  e:',
        '    provider: http',
        '    provider: sql',
        '',
      ].join('\n'),
    );
    expect(await problemsOf(file)).toEqual([
      'gates.e: duplicate key "provider" at line 6, column 5 (first at line 5, column 5); give each option once',
    ]);
  });

  it('reports a YAML threshold that is a string, and a stage gate that does not exist, in one run', async () => {
    const file = write(
      'mistakes.yaml',
      [
        'flag: f',
        'unleash: { environment: dev }',
        'gates:',
        '  errors:',
        '    provider: metrics',
        '    endpoint: http://127.0.0.1:8080/metrics',
        '    numerator: errors_total',
        '    denominator: requests_total',
        '    threshold: "0.05"',
        'stages:',
        '  - { percent: 50, soak: 1m, gates: [error] }',
        '  - { percent: 100, soak: 0s }',
        '',
      ].join('\n'),
    );
    expect(await problemsOf(file)).toEqual([
      'gates.errors.threshold: threshold must be a number (e.g. 0.05), got "0.05"',
      'stages[0].gates[0]: no gate named "error"; the plan defines "errors"',
    ]);
  });
});
