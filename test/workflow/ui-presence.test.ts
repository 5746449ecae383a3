import type { WorkflowHandle } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROLLOUT_OUTCOME, ROLLOUT_PAUSED } from '../../src/temporal/search-attributes';
import {
  pauseSignal,
  resumeUpdate,
  rollbackUpdate,
  statusQuery,
  type RolloutWorkflow,
} from '../../workflows';
import { waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';
import {
  fakeActivities,
  heldInDataPhase,
  startWorkflowTestEnv,
  trail,
  waitForCall,
  type WorkflowTestEnv,
} from '../helpers/workflow-test-env';

/**
 * Issue 10: what the Temporal UI shows comes from the workflow itself — its current details (the SDK's
 * `__temporal_workflow_metadata` query, which the UI reads) and the `RolloutPaused` / `RolloutOutcome` search
 * attributes (the list's filters). Real dev server, real workflow, fake activities.
 */

let env: WorkflowTestEnv;

beforeAll(async () => {
  env = await startWorkflowTestEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

/** The current details exactly as the UI gets them. */
async function currentDetails(handle: WorkflowHandle<typeof RolloutWorkflow>): Promise<string> {
  const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata.currentDetails ?? '';
}

async function attributes(handle: WorkflowHandle<typeof RolloutWorkflow>) {
  const { typedSearchAttributes } = await handle.describe();
  return {
    paused: typedSearchAttributes.get(ROLLOUT_PAUSED),
    outcome: typedSearchAttributes.get(ROLLOUT_OUTCOME),
  };
}

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await sleep(100);
  }
}

test('pause and resume show in the current details and the RolloutPaused attribute; the end in RolloutOutcome', async () => {
  const fakes = heldInDataPhase('migrateKeys');
  const latch = fakes.latch;
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    await waitForCall(fakes.calls, 'migrateKeys');
    const running = await eventually(
      () => currentDetails(handle),
      (d) => d.includes('| Phase | migrate-keys |'),
      'details naming the key migration',
    );
    expect(running).toContain('| Outcome | running |');
    expect(running).not.toContain('Paused');
    expect(await attributes(handle)).toEqual({ paused: false, outcome: 'running' });

    await handle.signal(pauseSignal, { actor: 'alice@ops', reason: 'error budget' });
    await waitForStatus(handle, (s) => s.paused, 'the pause');
    const paused = await eventually(
      () => currentDetails(handle),
      (d) => d.includes('⏸ Paused'),
      'details saying paused',
    );
    expect(paused).toContain('| ⏸ Paused | by alice@ops: paused by alice@ops: error budget |');
    expect(await attributes(handle)).toEqual({ paused: true, outcome: 'running' });
    // The list finds it with the filter the README gives.
    await eventually(
      async () => {
        const found: string[] = [];
        for await (const w of env.client.workflow.list({
          query: `RolloutPaused = true AND WorkflowId = "${handle.workflowId}"`,
        }))
          found.push(w.workflowId);
        return found;
      },
      (found) => found.length === 1,
      'the list to find the paused rollout',
    );

    latch.release();
    await handle.executeUpdate(resumeUpdate, { args: [{ actor: 'alice@ops' }] });
    await finalStatus(handle);
    const done = await currentDetails(handle);
    expect(done).toContain('| Outcome | ✅ completed |');
    expect(done).toContain('| Stage | 2/2 at 100% (all stages done) |');
    expect(await attributes(handle)).toEqual({ paused: false, outcome: 'completed' });
  });
});

test('a rolled-back rollout says so in its details and RolloutOutcome, with the cause', async () => {
  const fakes = heldInDataPhase('migrateTemplates');
  const latch = fakes.latch;
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    await waitForCall(fakes.calls, 'migrateTemplates');
    await handle.executeUpdate(rollbackUpdate, { args: [{ actor: 'bob@ops', reason: 'bad templates' }] });
    latch.release();
    await handle.result().catch(() => undefined);
    const details = await eventually(
      () => currentDetails(handle),
      (d) => d.includes('rolled back'),
      'details saying rolled back',
    );
    expect(details).toContain('| Rollback cause | rollback requested by bob@ops: bad templates |');
    expect(await attributes(handle)).toEqual({ paused: false, outcome: 'rolled_back' });
  });
});

test('a cancel names the canceller (from the cancel request) in the status and the audit log before the rollback', async () => {
  const fakes = heldInDataPhase('migrateKeys');
  const latch = fakes.latch;
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    await waitForCall(fakes.calls, 'migrateKeys');
    await handle.cancel();
    latch.release();
    await expect(handle.result()).rejects.toThrow();
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({
      outcome: 'cancelled',
      cancelledBy: 'fake-canceller@ops',
      error: 'cancelled by fake-canceller@ops: fake reason',
    });
    const kinds = trail(fakes.calls).filter(
      (step) => step.startsWith('recordEvent:') || step === 'readCancelRequest',
    );
    expect(kinds.indexOf('readCancelRequest')).toBeGreaterThan(-1);
    expect(kinds.indexOf('recordEvent:operator_cancel')).toBeGreaterThan(kinds.indexOf('readCancelRequest'));
    expect(kinds.indexOf('recordEvent:rollback_started')).toBeGreaterThan(
      kinds.indexOf('recordEvent:operator_cancel'),
    );
    const cancelRow = fakes.calls.find(
      (call) => call.name === 'recordEvent' && (call.input as { kind: string }).kind === 'operator_cancel',
    )!.input as { actor: string; details: { reason: string } };
    expect(cancelRow).toMatchObject({ actor: 'fake-canceller@ops', details: { reason: 'fake reason' } });
    expect(await currentDetails(handle)).toContain(
      '| Rollback cause | cancelled by fake-canceller@ops: fake reason |',
    );
  });
});

test('every activity the rollout schedules carries its one-line summary for the UI', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    await finalStatus(handle);
    const history = await handle.fetchHistory();
    const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
    expect(scheduled.length).toBeGreaterThan(10);
    const summaries = await Promise.all(
      scheduled.map(async (e) => {
        const payload = e.userMetadata?.summary;
        return payload
          ? await env.client.options.loadedDataConverter.payloadConverter.fromPayload(payload)
          : undefined;
      }),
    );
    expect(summaries.filter((s) => typeof s !== 'string' || s.length === 0)).toEqual([]);
    expect(summaries).toEqual(
      expect.arrayContaining([
        'backup runtime_config',
        expect.stringMatching(/^flag wf-\S+ → 100%, read back$/),
      ]),
    );
  });
});
