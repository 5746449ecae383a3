import { approveUpdate, statusQuery } from '../../workflows';
import { finalStatus, waitForStatus } from '../helpers/rollout-test-helpers';
import {
  fakeActivities,
  startWorkflowTestEnv,
  trail,
  type ActivityCall,
  type WorkflowTestEnv,
} from '../helpers/workflow-test-env';

/** Issue 9: `escalateAfter` bounds every human wait, the approval of a stage too. */

let env: WorkflowTestEnv;

beforeAll(async () => {
  env = await startWorkflowTestEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

const plan = (onEscalation: 'rollback' | 'proceed' | 'hold') => ({
  phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
  escalateAfter: '2s',
  onEscalation,
  stages: [
    { percent: 10, soak: '0s' },
    { percent: 100, soak: '0s', approval: true },
  ],
});

function escalations(calls: readonly ActivityCall[]) {
  return calls
    .filter((c) => c.name === 'recordEvent' && (c.input as { kind: string }).kind === 'escalated')
    .map((c) => c.input as { actor: string; details: { stage: number; action: string } });
}

test('an approval nobody gives within escalateAfter rolls back with onEscalation: rollback', async () => {
  const fakes = fakeActivities();
  const status = await env.withWorker(fakes.activities, async (taskQueue) =>
    finalStatus(await env.start(taskQueue, plan('rollback'))),
  );
  expect(status).toMatchObject({ outcome: 'rolled_back', percent: 0, awaitingApprovalStage: null });
  expect(status.error).toMatch(/escalation: escalated \(stage 2 \(100%\) waited 2000 ms for an approval\)/);
  expect(escalations(fakes.calls)).toEqual([
    expect.objectContaining({
      actor: 'escalation',
      details: expect.objectContaining({ stage: 2, action: 'rollback' }),
    }),
  ]);
  // The stage waiting for approval was never written.
  expect(trail(fakes.calls)).not.toContain('writeFlagPercent:100');
});

test('with onEscalation: proceed the stage goes on as if approved, recorded as the escalation', async () => {
  const fakes = fakeActivities();
  const status = await env.withWorker(fakes.activities, async (taskQueue) =>
    finalStatus(await env.start(taskQueue, plan('proceed'))),
  );
  expect(status).toMatchObject({ outcome: 'completed', percent: 100 });
  expect(escalations(fakes.calls)).toEqual([
    expect.objectContaining({ details: expect.objectContaining({ stage: 2, action: 'proceed' }) }),
  ]);
  expect(trail(fakes.calls)).toContain('writeFlagPercent:100');
});

test('with onEscalation: hold the escalation is recorded and the stage still waits for a person', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, plan('hold'));
    await waitForStatus(handle, (s) => s.events.some((e) => e.kind === 'escalated'), 'the escalation');
    expect(await handle.query(statusQuery)).toMatchObject({ awaitingApprovalStage: 2, percent: 10 });
    expect(trail(fakes.calls)).not.toContain('writeFlagPercent:100');
    await handle.executeUpdate(approveUpdate, { args: [{ actor: 'late@ops' }] });
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'completed', percent: 100 });
  });
  expect(escalations(fakes.calls)).toHaveLength(1);
});

test('an approval given before escalateAfter escalates nothing', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, { ...plan('rollback'), escalateAfter: '1m' });
    await waitForStatus(handle, (s) => s.awaitingApprovalStage === 2, 'the approval wait');
    await handle.executeUpdate(approveUpdate, { args: [{ actor: 'quick@ops' }] });
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'completed', percent: 100 });
  });
  expect(escalations(fakes.calls)).toEqual([]);
});

test('a cancel during the approval wait ends it: the cancelled rollout no longer reads as waiting', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, { ...plan('hold'), escalateAfter: '1m' });
    await waitForStatus(handle, (s) => s.awaitingApprovalStage === 2, 'the approval wait');
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect(await handle.query(statusQuery)).toMatchObject({
      outcome: 'cancelled',
      awaitingApprovalStage: null,
    });
  });
});
