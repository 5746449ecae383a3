import type { StageGatesResult } from '../../activities/gates/run-stage-gates-activity';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { pauseSignal, resumeSignal, rollbackSignal } from '../../workflows';
import { finalStatus, waitForStatus } from '../helpers/rollout-test-helpers';
import {
  fakeActivities,
  fakeAnswers,
  permanentFailure,
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
    const result = await finalStatus(await env.start(taskQueue, gatedPlan()));
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
    const result = await finalStatus(await env.start(taskQueue, gatedPlan()));
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
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'completed', percent: 100 });
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
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0 });
    expect(result.error).toMatch(/escalat/);
  });
  expect(trail(fakes.calls)).toContain('recordEvent:escalated');
});

test('an inconclusive pause nobody answers with onEscalation hold is recorded and keeps waiting; resume goes on', async () => {
  const fakes = gatesAnswering({ outcome: 'inconclusive', gate: 'health', reason: 'no traffic', gates: [] });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan({ escalateAfter: '1s', onEscalation: 'hold' }));
    const escalated = await waitForStatus(
      handle,
      (s) => s.events.some((e) => e.kind === 'escalated'),
      'the escalation',
    );
    expect(escalated).toMatchObject({ paused: true, pausedBy: 'gate:health', stageIndex: 0, percent: 10 });
    // Still held a moment later: hold keeps waiting for a person.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await handle.query('status')).toMatchObject({ paused: true, outcome: 'running' });
    await handle.signal(resumeSignal, { actor: 'bob@ops' });
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'completed', percent: 100 });
  });
  expect(trail(fakes.calls).filter((step) => step === 'recordEvent:escalated')).toHaveLength(1);
  expect(fakes.calls.filter((c) => c.name === 'runStageGates')).toHaveLength(2);
});

test('an escalated rollback leaves the rollout unpaused: it rolls back, it is not held', async () => {
  const fakes = gatesAnswering({ outcome: 'inconclusive', gate: 'health', reason: 'no traffic', gates: [] });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan({ escalateAfter: '1s', onEscalation: 'rollback' }));
    expect(await finalStatus(handle)).toMatchObject({
      outcome: 'rolled_back',
      percent: 0,
      paused: false,
      pausedBy: null,
    });
  });
});

test('the flag-to-0 of a rollback is retried in rounds while Unleash fails; the status says so, then it rolls back', async () => {
  let failuresLeft = 4;
  const fakes = fakeActivities({
    runStageGates: async () => ({
      outcome: 'failed',
      gate: 'health',
      onFailure: 'rollback',
      measurement,
      auditKey: 'k',
      gates: [],
    }),
    setFlagPercent: async (input) => {
      if (input.percent === 0 && failuresLeft-- > 0) {
        throw new Error(
          'Unleash admin API PUT … failed: TypeError: fetch failed (connect ECONNREFUSED 127.0.0.1:1)',
        );
      }
      return fakeAnswers.setFlagPercent(input);
    },
  });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan());
    const retrying = await waitForStatus(
      handle,
      (s) => s.events.some((e) => e.kind === 'flag_rollback_retrying'),
      'the retrying status',
    );
    expect(retrying).toMatchObject({ phase: 'rollback', outcome: 'running', percent: 10 });
    expect(retrying.operatorAction).toMatch(
      /^waiting for Unleash: the flag .* not confirmed at 0% yet \(3 attempts, last error: .*ECONNREFUSED/,
    );
    expect(retrying.events.find((e) => e.kind === 'flag_rollback_retrying')!.message).toMatch(
      /3 attempts failed since .*ECONNREFUSED.*retrying until Unleash confirms it/,
    );
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0, operatorAction: null });
    expect(result.events.filter((e) => e.kind === 'flag_rollback_retrying')).toHaveLength(1);
    // The history holds rounds, not attempts: two setFlagPercent activities (one failed) for five attempts.
    const history = await handle.fetchHistory();
    const flagCalls = new Set(
      (history.events ?? [])
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'setFlagPercent')
        .map((e) => Number(e.eventId)),
    );
    expect(flagCalls.size).toBe(2);
    const failed = (history.events ?? []).filter((e) =>
      flagCalls.has(Number(e.activityTaskFailedEventAttributes?.scheduledEventId ?? -1)),
    );
    expect(failed).toHaveLength(1);
  });
  // Three attempts in the first round, the fourth fails in the second, the fifth confirms.
  expect(sagaSteps(fakes.calls).filter((s) => s === 'setFlagPercent:0')).toHaveLength(5);
  expect(trail(fakes.calls).filter((s) => s === 'recordEvent:flag_rollback_retrying')).toHaveLength(1);
  const kinds = trail(fakes.calls);
  expect(kinds.indexOf('recordEvent:flag_rollback_retrying')).toBeLessThan(
    kinds.indexOf('recordEvent:flag_rolled_back'),
  );
});

test('a flag-to-0 that fails for good (non-retryable) is not retried: the rollback reports it', async () => {
  const fakes = fakeActivities({
    runStageGates: async () => ({
      outcome: 'failed',
      gate: 'health',
      onFailure: 'rollback',
      measurement,
      auditKey: 'k',
      gates: [],
    }),
    setFlagPercent: async (input) =>
      input.percent === 0 ? permanentFailure('flag archived') : fakeAnswers.setFlagPercent(input),
  });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan());
    await expect(handle.result()).rejects.toThrow();
    const status = await handle.query('status');
    expect(status).toMatchObject({ outcome: 'rollback_failed', rollbackFailures: [{ phase: 'ramp' }] });
  });
  expect(sagaSteps(fakes.calls).filter((s) => s === 'setFlagPercent:0')).toHaveLength(1);
});

/** Fakes where Unleash answers nothing about stage 2 (100 %) until `unleashBack()` is called. */
function unleashDownAtStage2() {
  let down = true;
  const refused = () => {
    throw new Error(
      'Unleash admin API GET … failed: TypeError: fetch failed (connect ECONNREFUSED 127.0.0.1:1)',
    );
  };
  const fakes = fakeActivities({
    checkFlagDrift: async (input) => (down ? refused() : fakeAnswers.checkFlagDrift(input)),
    writeFlagPercent: async (input) =>
      input.percent === 100 && down ? refused() : fakeAnswers.writeFlagPercent(input),
  });
  return { ...fakes, unleashBack: () => (down = false) };
}

test('Unleash down before a stage: the stage waits (no stage advances unconfirmed) and the status says so; it goes on once Unleash answers', async () => {
  const fakes = unleashDownAtStage2();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan());
    const waiting = await waitForStatus(
      handle,
      (s) => s.events.some((e) => e.kind === 'unleash_unreachable'),
      'the wait for Unleash',
    );
    expect(waiting).toMatchObject({ stageIndex: 0, percent: 10, phase: 'ramp', outcome: 'running' });
    expect(waiting.operatorAction).toMatch(
      /Unleash does not answer \(3 attempts, last error: .*ECONNREFUSED/,
    );
    expect(waiting.events.find((e) => e.kind === 'unleash_unreachable')!.message).toMatch(
      /stage 2 \(100%\) waits for Unleash: 3 attempts to read back the flag failed/,
    );
    fakes.unleashBack();
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'completed', percent: 100, operatorAction: null });
  });
  expect(trail(fakes.calls).filter((s) => s === 'recordEvent:unleash_unreachable')).toHaveLength(1);
  expect(trail(fakes.calls).filter((s) => s === 'recordEvent:stage_reached')).toHaveLength(2);
});

test('a rollback asked for while a stage waits for Unleash ends the wait: the next stage is never written, the flag goes to 0', async () => {
  const fakes = unleashDownAtStage2();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan());
    await waitForStatus(
      handle,
      (s) => s.events.some((e) => e.kind === 'unleash_unreachable'),
      'the wait for Unleash',
    );
    await handle.signal(rollbackSignal, { actor: 'bob@ops', reason: 'Unleash is down, stop here' });
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0, stageIndex: 0 });
    expect(result.error).toMatch(/rollback requested by bob@ops/);
  });
  // Nothing but the drift read was tried for stage 2; the rollback's flag-to-0 came next.
  const steps = sagaSteps(fakes.calls);
  expect(steps).not.toContain('writeFlagPercent:100');
  expect(steps.at(-1)).toBe('setFlagPercent:0');
  expect(trail(fakes.calls).filter((s) => s === 'recordEvent:stage_reached')).toHaveLength(1);
});

test('a gate hold that continues as new (a flood of large signals) keeps its escalation in the new run', async () => {
  const fakes = gatesAnswering({ outcome: 'inconclusive', gate: 'health', reason: 'no traffic', gates: [] });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, gatedPlan({ escalateAfter: '6s', onEscalation: 'rollback' }));
    await waitForStatus(handle, (s) => s.paused && s.pausedBy === 'gate:health', 'the hold');
    // Two refused signals of about 1.1 MB each take the run's history past its 2 MB budget: it hands over.
    for (let i = 0; i < 2; i++) {
      await handle.signal(pauseSignal, { actor: 'mallory@outside', reason: 'r'.repeat(1_100_000) });
    }
    const handedOver = await waitForStatus(handle, (s) => s.continuedAsNew >= 1, 'the hand-over', 30_000);
    expect(handedOver).toMatchObject({ paused: true, pausedBy: 'gate:health', stageIndex: 0 });
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0 });
    expect(result.error).toMatch(/rollback requested by escalation: escalated \(held by gate:health/);
    const kinds = result.events.map((e) => e.kind);
    expect(kinds.lastIndexOf('continued_as_new')).toBeLessThan(kinds.lastIndexOf('escalated'));
  });
  // The gates ran once: the new run held again instead of measuring.
  expect(fakes.calls.filter((c) => c.name === 'runStageGates')).toHaveLength(1);
}, 60_000);
