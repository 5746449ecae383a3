import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  inspectionProblems,
  inspectModelFixture,
  type RolloutInspection,
} from '../../activities/preflight/inspect-rollout';
import { parseRolloutPlan } from '../../src/plan/rollout-plan';

/**
 * The model fixture is part of the one inspection, so the preflight refuses a rollout whose seeding could
 * not run before anything changes, with the same line `rollout plan` lists as blocking.
 */
const plan = parseRolloutPlan({ flag: 'unified-config', unleash: { environment: 'development' } });
const noSeeding = parseRolloutPlan({
  flag: 'unified-config',
  unleash: { environment: 'development' },
  phases: { seedModels: false },
});

const healthy: Omit<RolloutInspection, 'modelFixtureProblem'> = {
  postgres: { version: '15.4', major: 15, supported: true },
  tables: [],
  unleash: {
    project: 'default',
    environment: 'development',
    flag: 'unified-config',
    projectExists: true,
    environmentExists: true,
    environments: ['development'],
    flagExists: false,
    enabled: null,
    percent: null,
    foreignStrategies: [],
    error: null,
  },
};

function scratchFile(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'fixture-')), name);
  writeFileSync(file, text);
  return file;
}

describe('model fixture inspection', () => {
  it('loads the shipped fixture without a problem', async () => {
    const result = await inspectModelFixture(plan);
    expect(result.problem).toBeNull();
    expect(result.models?.length).toBeGreaterThan(0);
  });

  it('names an invalid fixture, and the preflight problems list it', async () => {
    const file = scratchFile('models.json', JSON.stringify({ models: [{ provider: 'openai' }] }));
    const result = await inspectModelFixture(plan, file);
    expect(result.models).toBeNull();
    expect(result.problem).toMatch(/models\[0\]/);
    expect(inspectionProblems({ ...healthy, modelFixtureProblem: result.problem })).toEqual([result.problem]);
  });

  it('names a fixture that is not JSON', async () => {
    const result = await inspectModelFixture(plan, scratchFile('models.json', '{ nope'));
    expect(result.problem).toMatch(/not valid JSON/);
  });

  it('does not read the fixture when the plan does not seed', async () => {
    const result = await inspectModelFixture(noSeeding, '/nonexistent/models.json');
    expect(result).toEqual({ models: null, problem: null });
  });
});
