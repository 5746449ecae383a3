import type { StageGatesResult } from '../../activities/gates/run-stage-gates-activity';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { resumeSignal } from '../../workflows';
import { waitForStatus } from '../helpers/rollout-test-helpers';
import {
  fakeActivities,
  sagaSteps,
  startWorkflowTestEnv,
  trail,
  type WorkflowTestEnv,
} from '../helpers/workflow-test-env';

/**
 * The gated ramp's decisions with fake activities: the workflow acts on what `runStageGates` returns (the
 * measuring itself is tested in test/integration/run-stage-gates-activity.test.ts).
 */

let env: WorkflowTestEnv;

beforeAll(async () => {
  env = await startWorkflowTestEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

const measurement = {
  verdict: 'fail',
  value: 9,
  threshold: 1,
  sample: 40,
  detail: 'too many errors',
} as const;

function gatedPlan(extra: Partial<RolloutPlanInput> = {}): Partial<RolloutPlanInput> {
  return {
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    stages: [
      { percent: 10, soak: '2s' },
      { percent: 100, soak: '0s' },
    ],
    gates: { health: { provider: 'http', url: 'http://127.0.0.1:9/health', interval: '1s' } },
    ...extra,
  };
}

/** Fake gates answering `answers` in turn, then `passed`. */
function gatesAnswering(...answers: StageGatesResult[]) {
  const remaining = [...answers];
  return fakeActivities({
    runStageGates: async () => remaining.shift() ?? { outcome: 'passed', gates: [] },
  });
}

test('a stage with gates advances only after the gates passed; a stage without gates does not run them', async () => {
  const fakes = gatesAnswering();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const result = await (await env.start(taskQueue, gatedPlan())).result();
    expect(result).toMatchObject({
      outcome: 'completed',
      percent: 100,
      gates: { stage: 1, outcome: 'passed' },
    });
  });
  expect(sagaSteps(fakes.calls).slice(-4)).toEqual([
    'writeFlagPercent:10',
    'runStageGates',
    'checkFlagDrift',
    'writeFlagPercent:100',
  ]);
  expect(trail(fakes.calls)).toContain('recordEvent:gates_passed');
});

test('a failed gate with onFailure rollback rolls back at once, cause gate_failed', async () => {
  const fakes = gatesAnswering({
    outcome: 'failed',
    gate: 'health',
    onFailure: 'rollback',
    measurement,
    auditKey: 'gate-s1-r0-health#3',
    gates: [],
  });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const result = await (await env.start(taskQueue, gatedPlan())).result();
    expect(result.outcome).toBe('rolled_back');
    expect(result.percent).toBe(0);
    expect(result.error).toMatch(/^rollback requested by gate:health: gate_failed: gate health at stage 1/);
  });
  expect(sagaSteps(fakes.calls).slice(-2)).toEqual(['runStageGates', 'setFlagPercent:0']);
  const failed = fakes.calls.find((c) => trail([c])[0] === 'recordEvent:gate_failed');
  expect(failed?.input).toMatchObject({
    actor: 'gate:health',
    details: { cause: 'gate_failed', measurementKey: 'gate-s1-r0-health#3', measurement },
  });
});

test('hold and inconclusive pause at the stage with the flag unchanged; resume runs the gates again', async () => {
  const fakes = gatesAnswering(
    { outcome: 'failed', gate: 'health', onFailure: 'hold', measurement, auditKey: 'k', gates: [] },
    { outcome: 'inconclusive', gate: 'health', reason: 'gate health inconclusive since then', gates: [] },
  );
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan());
    const held = await waitForStatus(handle, (s) => s.paused, 'the hold');
    expect(held).toMatchObject({ pausedBy: 'gate:health', stageIndex: 0, percent: 10 });
    await handle.signal(resumeSignal, { actor: 'bob@ops' });
    await waitForStatus(
      handle,
      (s) => s.paused && s.gates?.outcome === 'inconclusive',
      'the inconclusive pause',
    );
    await handle.signal(resumeSignal, { actor: 'bob@ops' });
    expect(await handle.result()).toMatchObject({ outcome: 'completed', percent: 100 });
  });
  const rounds = fakes.calls
    .filter((c) => c.name === 'runStageGates')
    .map((c) => (c.input as { round: number }).round);
  expect(rounds).toEqual([0, 1, 2]);
  expect(sagaSteps(fakes.calls).filter((s) => s.startsWith('writeFlagPercent'))).toEqual([
    'writeFlagPercent:10',
    'writeFlagPercent:100',
  ]);
});

test('an inconclusive pause nobody answers escalates: onEscalation rollback rolls back', async () => {
  const fakes = gatesAnswering({ outcome: 'inconclusive', gate: 'health', reason: 'no traffic', gates: [] });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan({ escalateAfter: '2s', onEscalation: 'rollback' }));
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0 });
    expect(result.error).toMatch(/escalat/);
  });
  expect(trail(fakes.calls)).toContain('recordEvent:escalated');
});
