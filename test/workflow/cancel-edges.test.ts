import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { pauseSignal, pauseUpdate, statusQuery } from '../../workflows';
import { HISTORY_BYTES_BUDGET } from '../../workflows/history-budget';
import { waitForStatus } from '../helpers/rollout-test-helpers';
import {
  fakeActivities,
  heldInDataPhase,
  Latch,
  permanentFailure,
  startWorkflowTestEnv,
  waitForCall,
  type WorkflowTestEnv,
} from '../helpers/workflow-test-env';

/** Cancels at awkward moments (found by attacking the cancel path): none may be lost or end misreported. */

let env: WorkflowTestEnv;

beforeAll(async () => {
  env = await startWorkflowTestEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

async function until(ready: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('a cancel whose restore fails ends failed as RollbackFailed (not "Canceled"), with its records written', async () => {
  const fakes = heldInDataPhase('migrateKeys', {
    restoreTable: async () => permanentFailure('restore failed: disk full'),
  });
  const running = fakes.latch;
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      phases: { migrateKeys: true, migrateTemplates: false, seedModels: false },
    });
    await waitForCall(fakes.calls, 'migrateKeys');
    await handle.cancel();
    running.release();
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('RollbackFailed');
    expect((await handle.describe()).status.name).toBe('FAILED');
    expect(await handle.query(statusQuery)).toMatchObject({
      outcome: 'rollback_failed',
      cancelledBy: 'fake-canceller@ops',
    });
    const kinds = fakes.calls
      .filter((c) => c.name === 'recordEvent')
      .map((c) => (c.input as { kind: string }).kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['operator_cancel', 'compensation_failed', 'rollback_failed']),
    );
  });
});

test('a plain cancel still ends as Canceled in Temporal, after its rollback', async () => {
  const fakes = heldInDataPhase('migrateKeys');
  const running = fakes.latch;
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      phases: { migrateKeys: true, migrateTemplates: false, seedModels: false },
    });
    await waitForCall(fakes.calls, 'migrateKeys');
    await handle.cancel();
    running.release();
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(await handle.query(statusQuery)).toMatchObject({ outcome: 'cancelled', percent: 0 });
  });
});

test('a cancel that arrives while the run hands over (history near its limit) is honoured, not carried away', async () => {
  const held = new Latch();
  let holding = false;
  const fakes = fakeActivities({
    recordEvent: async (input) => {
      if (input.kind === 'operator_pause' && !holding) {
        holding = true;
        await held.wait();
      }
    },
  });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
      stages: [
        { percent: 10, soak: '0s' },
        { percent: 100, soak: '0s', approval: true },
      ],
    });
    await waitForStatus(handle, (s) => s.awaitingApprovalStage === 2, 'the approval wait');
    const firstRun = (await handle.describe()).runId;
    // An update whose audit write is held keeps a handler running, so the hand-over waits for it.
    const pause = handle.executeUpdate(pauseUpdate, { args: [{ actor: 'ana@ops' }] }).catch(() => undefined);
    await until(() => holding, 'the held pause record');
    // Two refused signals of about 1.1 MB each push the history past its 2 MB budget: the run must hand over.
    for (let i = 0; i < 2; i++)
      await handle.signal(pauseSignal, { actor: 'mallory', reason: 'r'.repeat(1_100_000) });
    await sleep(1_500);
    // The fault is real: the history is past the budget, so the run is handing over (waiting for the update).
    const size = Number((await handle.describe()).raw.workflowExecutionInfo?.historySizeBytes ?? 0);
    expect(size).toBeGreaterThan(HISTORY_BYTES_BUDGET);
    expect((await handle.describe()).runId).toBe(firstRun);
    await handle.cancel();
    held.release();
    await pause;
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const described = await handle.describe();
    // The cancel ended the run it reached; no new run carried on without it.
    expect(described.runId).toBe(firstRun);
    expect(described.status.name).toBe('CANCELLED');
    expect(await handle.query(statusQuery)).toMatchObject({
      outcome: 'cancelled',
      percent: 0,
      continuedAsNew: 0,
    });
  });
}, 120_000);
