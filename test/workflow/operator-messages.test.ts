import { WorkflowUpdateFailedError } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  rollbackSignal,
  rollbackUpdate,
  statusQuery,
} from '../../workflows';
import { waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';
import {
  fakeActivities,
  fakeAnswers,
  Latch,
  sagaSteps,
  startWorkflowTestEnv,
  trail,
  waitForCall,
  type ActivityCall,
  type WorkflowTestEnv,
} from '../helpers/workflow-test-env';

let env: WorkflowTestEnv;

beforeAll(async () => {
  env = await startWorkflowTestEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

/** Fake activities whose key migration waits for the test, so a message lands while it runs. */
function heldInKeyMigration() {
  const latch = new Latch();
  const fakes = fakeActivities({
    migrateKeys: async (input) => {
      await latch.wait();
      return fakeAnswers.migrateKeys(input);
    },
  });
  return { ...fakes, latch };
}

/** The operator decisions written to the audit log, as `kind by actor (via)` (refused messages aside). */
function operatorRecords(calls: readonly ActivityCall[]): string[] {
  return calls
    .filter((call) => call.name === 'recordEvent')
    .map((call) => call.input as { kind: string; actor: string; details: { via?: string } })
    .filter((event) => event.kind.startsWith('operator_') && event.kind !== 'operator_messages_ignored')
    .map((event) => `${event.kind} by ${event.actor} (${event.details.via})`);
}

const refusal = (message: string) =>
  expect.objectContaining({
    name: WorkflowUpdateFailedError.name,
    cause: expect.objectContaining({ message }),
  });

test('a pause holds the rollout at the next phase boundary until a resume; a second pause is refused', async () => {
  const fakes = heldInKeyMigration();
  const result = await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    await waitForCall(fakes.calls, 'migrateKeys');
    await handle.signal(pauseSignal, { actor: 'alice@ops', reason: 'error budget' });
    await waitForStatus(handle, (s) => s.paused, 'the pause');
    fakes.latch.release();
    // The running phase finishes; the next one does not start while paused.
    await waitForStatus(handle, (s) => s.keyMigration !== null, 'the key migration to finish');
    await sleep(1_000);
    expect(sagaSteps(fakes.calls).at(-1)).toBe('migrateKeys');
    expect(await handle.query(statusQuery)).toMatchObject({
      phase: 'migrate-keys',
      paused: true,
      pausedBy: 'alice@ops',
    });
    await expect(handle.executeUpdate(pauseUpdate, { args: [{ actor: 'bob@ops' }] })).rejects.toEqual(
      refusal('cannot pause: already paused by alice@ops'),
    );

    const answer = await handle.executeUpdate(resumeUpdate, { args: [{ actor: 'bob@ops' }] });
    expect(answer).toMatchObject({ paused: false, pausedBy: null, outcome: 'running' });
    return finalStatus(handle);
  });

  expect(result).toMatchObject({ outcome: 'completed', paused: false });
  expect(operatorRecords(fakes.calls)).toEqual([
    'operator_pause by alice@ops (signal)',
    'operator_resume by bob@ops (update)',
  ]);
});

test('a pause during a soak lets the soak finish and holds before the next stage', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
      stages: [
        { percent: 10, soak: '1s' },
        { percent: 100, soak: '0s' },
      ],
    });
    await waitForStatus(handle, (s) => s.soakEndsAt !== null, 'the first soak');
    await handle.executeUpdate(pauseUpdate, { args: [{ actor: 'alice@ops' }] });
    await waitForStatus(handle, (s) => s.soakEndsAt === null, 'the soak to end while paused');
    await sleep(1_000);
    expect(await handle.query(statusQuery)).toMatchObject({ stageIndex: 0, percent: 10, paused: true });
    expect(sagaSteps(fakes.calls).at(-1)).toBe('writeFlagPercent:10');

    await handle.signal(resumeSignal, { actor: 'bob@ops' });
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'completed', percent: 100 });
  });
});

test('a stage marked approval waits for an operator; approving before then is refused', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      stages: [
        { percent: 10, soak: '0s' },
        { percent: 100, soak: '0s', approval: true },
      ],
    });
    await expect(handle.executeUpdate(approveUpdate, { args: [{ actor: 'eager' }] })).rejects.toEqual(
      refusal('cannot approve: no stage is waiting for approval'),
    );
    await waitForStatus(handle, (s) => s.awaitingApprovalStage === 2, 'the approval wait');
    await sleep(1_000);
    expect(sagaSteps(fakes.calls).at(-1)).toBe('writeFlagPercent:10');

    const answer = await handle.executeUpdate(approveUpdate, {
      args: [{ actor: 'carol@ops', reason: 'dashboards green' }],
    });
    expect(answer.awaitingApprovalStage).toBe(2); // answered before the stage goes on
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'completed', awaitingApprovalStage: null });
  });
  const steps = trail(fakes.calls);
  expect(steps.indexOf('recordEvent:operator_approve')).toBeLessThan(steps.indexOf('writeFlagPercent:100'));
  expect(operatorRecords(fakes.calls)).toEqual(['operator_approve by carol@ops (update)']);
});

test('a rollback (update) cuts a soak short: the flag to 0 first, then the data phases, and ends normally', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      stages: [
        { percent: 30, soak: '10m' },
        { percent: 100, soak: '0s' },
      ],
    });
    await waitForStatus(handle, (s) => s.soakEndsAt !== null, 'the long soak');
    await handle.executeUpdate(rollbackUpdate, { args: [{ actor: 'carol@ops', reason: 'p99 latency' }] });
    expect(await finalStatus(handle)).toMatchObject({
      outcome: 'rolled_back',
      percent: 0,
      error: 'rollback requested by carol@ops: p99 latency',
    });
    await expect(handle.executeUpdate(rollbackUpdate, { args: [{ actor: 'late' }] })).rejects.toThrow(
      'workflow execution already completed',
    );
  });
  expect(sagaSteps(fakes.calls).slice(-5)).toEqual([
    'writeFlagPercent:30',
    'setFlagPercent:0',
    'rollbackModelSeeding',
    'restoreTemplates',
    'restoreTable',
  ]);
  expect(trail(fakes.calls).slice(-3)).toEqual([
    'restoreTable',
    'recordEvent:keys_restored',
    'recordEvent:rolled_back',
  ]);
});

test('with rollback.scope flag, a requested rollback sets the flag to 0 and leaves the migrated data', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      rollback: { scope: 'flag' },
      stages: [
        { percent: 30, soak: '10m' },
        { percent: 100, soak: '0s' },
      ],
    });
    await waitForStatus(handle, (s) => s.soakEndsAt !== null, 'the long soak');
    await handle.executeUpdate(rollbackUpdate, { args: [{ actor: 'carol@ops', reason: 'flag only' }] });
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'rolled_back', percent: 0 });
  });
  const steps = sagaSteps(fakes.calls);
  expect(steps.slice(-2)).toEqual(['writeFlagPercent:30', 'setFlagPercent:0']);
  for (const undo of ['rollbackModelSeeding', 'restoreTemplates', 'restoreTable'])
    expect(steps).not.toContain(undo);
});

test('a rollback (signal) ends a pause at once; only the phases that started are undone', async () => {
  const fakes = heldInKeyMigration();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    await waitForCall(fakes.calls, 'migrateKeys');
    await handle.executeUpdate(pauseUpdate, { args: [{ actor: 'alice@ops' }] });
    fakes.latch.release();
    await waitForStatus(handle, (s) => s.keyMigration !== null, 'the key migration to finish');
    await handle.signal(rollbackSignal, { actor: 'bob@ops', reason: 'wrong window' });
    expect(await finalStatus(handle)).toMatchObject({
      outcome: 'rolled_back',
      paused: false,
      pausedBy: null,
    });
  });
  expect(sagaSteps(fakes.calls).slice(-2)).toEqual(['migrateKeys', 'restoreTable']);
  expect(operatorRecords(fakes.calls)).toEqual([
    'operator_pause by alice@ops (update)',
    'operator_rollback by bob@ops (signal)',
  ]);
});

test('requests that cannot apply are refused (updates) or counted and ignored (signals), changing nothing', async () => {
  const fakes = heldInKeyMigration();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    await waitForCall(fakes.calls, 'migrateKeys');
    await expect(handle.executeUpdate(resumeUpdate, { args: [{ actor: 'bob@ops' }] })).rejects.toEqual(
      refusal('cannot resume: the rollout is not paused'),
    );
    await expect(
      handle.executeUpdate(pauseUpdate, { args: [{ actor: 'x', extra: 1 } as never] }),
    ).rejects.toThrow(WorkflowUpdateFailedError);
    await handle.signal(resumeSignal, { actor: 'bob@ops' });
    await handle.signal(pauseSignal, 'not an object' as never);
    await handle.signal('promote');
    const status = await waitForStatus(handle, (s) => s.ignored.count === 3, 'three ignored signals');
    expect(status.ignored.last.map((e) => e.message)).toEqual([
      'resume signal from bob@ops ignored: the rollout is not paused',
      expect.stringMatching(/^pause signal ignored: /),
      'signal "promote" ignored: no such signal (pause, resume, approve, rollback)',
    ]);
    expect(status).toMatchObject({ paused: false, pausedBy: null });
    fakes.latch.release();
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'completed' });
  });
  expect(operatorRecords(fakes.calls)).toEqual([]);
  // Refused signals reach the audit log in batches, never one row per message.
  const ignoredRows = fakes.calls
    .filter((call) => call.name === 'recordEvent')
    .map((call) => call.input as { kind: string; details: { messages?: string[] } })
    .filter((event) => event.kind === 'operator_messages_ignored');
  expect(ignoredRows.flatMap((row) => row.details.messages)).toHaveLength(3);
  expect(ignoredRows.length).toBeLessThan(3);
});
