import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { RolloutActivities } from '../../activities';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { pauseUpdate, rollbackSignal, rollbackUpdate, statusQuery } from '../../workflows';
import type { OperatorRequest } from '../../workflows/operator-request';
import { waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';
import {
  fakeActivities,
  sagaSteps,
  startWorkflowTestEnv,
  waitForCall,
  type ActivityCall,
  type WorkflowTestEnv,
} from '../helpers/workflow-test-env';

/**
 * Issue 9, "Rollback scope" and "A rollback interrupts a running data phase", with fake activities: what a
 * rollback undoes when the request names a scope, the plan's default otherwise; and a rollback that arrives
 * while a data phase runs cancels it, waits until it stopped and undoes it.
 */

let env: WorkflowTestEnv;

beforeAll(async () => {
  env = await startWorkflowTestEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

const soaking: Partial<RolloutPlanInput> = {
  stages: [
    { percent: 30, soak: '10m' },
    { percent: 100, soak: '0s' },
  ],
};

const dataUndo = ['rollbackModelSeeding', 'restoreTemplates', 'restoreTable'];

/** The details of the audit rows of `kind`, in the order they were written. */
function audit(calls: readonly ActivityCall[], kind: string): Record<string, unknown>[] {
  return calls
    .filter((call) => call.name === 'recordEvent')
    .map((call) => call.input as { kind: string; details: Record<string, unknown> })
    .filter((event) => event.kind === kind)
    .map((event) => event.details);
}

/** Runs a rollout soaking at 30 %, sends `rollback`, and returns the calls made. */
async function rollBackMidSoak(
  plan: Partial<RolloutPlanInput>,
  rollback: (handle: Awaited<ReturnType<WorkflowTestEnv['start']>>) => Promise<unknown>,
) {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, { ...soaking, ...plan });
    await waitForStatus(handle, (s) => s.soakEndsAt !== null, 'the long soak');
    await rollback(handle);
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'rolled_back', percent: 0 });
  });
  return fakes.calls;
}

const request = (scope?: 'flag' | 'full'): OperatorRequest => ({
  actor: 'carol@ops',
  reason: 'scope check',
  ...(scope ? { scope } : {}),
});

test.each([
  {
    via: 'update',
    send: (h: Awaited<ReturnType<WorkflowTestEnv['start']>>) =>
      h.executeUpdate(rollbackUpdate, { args: [request('flag')] }),
  },
  {
    via: 'signal',
    send: (h: Awaited<ReturnType<WorkflowTestEnv['start']>>) => h.signal(rollbackSignal, request('flag')),
  },
])('scope flag by $via undoes only the ramp, whatever the plan says', async ({ send, via }) => {
  const calls = await rollBackMidSoak({ rollback: { scope: 'full' } }, send);
  const steps = sagaSteps(calls);
  expect(steps.slice(-2)).toEqual(['writeFlagPercent:30', 'setFlagPercent:0']);
  for (const undo of dataUndo) expect(steps).not.toContain(undo);
  expect(audit(calls, 'operator_rollback')).toEqual([expect.objectContaining({ scope: 'flag', via })]);
  expect(audit(calls, 'rollback_started')).toEqual([
    expect.objectContaining({ scope: 'flag', undo: ['ramp'] }),
  ]);
});

test('scope full undoes every phase even when the plan says flag', async () => {
  const calls = await rollBackMidSoak({ rollback: { scope: 'flag' } }, (h) =>
    h.executeUpdate(rollbackUpdate, { args: [request('full')] }),
  );
  expect(sagaSteps(calls).slice(-5)).toEqual(['writeFlagPercent:30', 'setFlagPercent:0', ...dataUndo]);
  expect(audit(calls, 'operator_rollback')).toEqual([expect.objectContaining({ scope: 'full' })]);
  expect(audit(calls, 'rollback_started')).toEqual([
    expect.objectContaining({
      scope: 'full',
      undo: ['ramp', 'seed-models', 'migrate-templates', 'migrate-keys'],
    }),
  ]);
});

test.each([
  { planScope: 'flag' as const, undone: ['setFlagPercent:0'] },
  { planScope: 'full' as const, undone: ['setFlagPercent:0', ...dataUndo] },
])('without a scope the plan default ($planScope) applies', async ({ planScope, undone }) => {
  const calls = await rollBackMidSoak({ rollback: { scope: planScope } }, (h) =>
    h.executeUpdate(rollbackUpdate, { args: [request()] }),
  );
  expect(sagaSteps(calls).slice(-undone.length - 1)).toEqual(['writeFlagPercent:30', ...undone]);
  // The operator's row says it named no scope; the rollback's own row names the one applied.
  expect(audit(calls, 'operator_rollback')).toEqual([expect.objectContaining({ scope: null })]);
  expect(audit(calls, 'rollback_started')).toEqual([expect.objectContaining({ scope: planScope })]);
});

test('a bad scope is refused by the update and ignored as a signal; a pause with a scope is refused', async () => {
  const fakes = fakeActivities();
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, soaking);
    await waitForStatus(handle, (s) => s.soakEndsAt !== null, 'the long soak');
    const huge = `partial${'x'.repeat(5_000)}`;
    const refused = await handle
      .executeUpdate(rollbackUpdate, { args: [{ actor: 'eve', scope: huge } as never] })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    const message = String((refused as WorkflowUpdateFailedError).cause?.message);
    expect(message).toBe('rollback refused: scope must be "full" or "flag"');
    await expect(
      handle.executeUpdate(pauseUpdate, { args: [{ actor: 'eve', scope: 'flag' } as never] }),
    ).rejects.toMatchObject({
      cause: expect.objectContaining({
        message: 'pause refused: only "actor" and "reason" are accepted ("scope" is for rollback only)',
      }),
    });
    await handle.signal(rollbackSignal, { actor: 'eve', scope: huge } as never);
    const status = await waitForStatus(handle, (s) => s.ignored.count === 1, 'the ignored signal');
    expect(status).toMatchObject({ outcome: 'running', phase: 'ramp', percent: 30, paused: false });
    expect(status.ignored.last[0]?.message).toMatch(
      /^rollback signal ignored: scope must be "full" or "flag" \(object, \d+ characters of JSON\)$/,
    );
    // Nothing of the refused values is kept anywhere.
    expect(JSON.stringify(status)).not.toContain('xxxx');

    await handle.executeUpdate(rollbackUpdate, { args: [request('flag')] });
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'rolled_back' });
  });
  expect(audit(fakes.calls, 'operator_rollback')).toHaveLength(1);
  expect(audit(fakes.calls, 'operator_pause')).toHaveLength(0);
  expect(JSON.stringify(fakes.calls)).not.toContain('xxxx');
});

/**
 * A data phase that runs until it is cancelled, heartbeating like the real ones (the first heartbeat after a
 * second, so a rollback sent as soon as it started is answered by it; later ones are throttled by the SDK).
 */
function runsUntilCancelled(name: 'migrateKeys' | 'migrateTemplates') {
  const stopped: { at: number | null } = { at: null };
  const phase = async () => {
    const context = Context.current();
    try {
      await context.sleep(1_000);
      for (let batch = 1; ; batch++) {
        context.heartbeat({ batch });
        await context.sleep(100);
      }
    } catch (error) {
      if (error instanceof CancelledFailure) stopped.at = Date.now();
      throw error;
    }
  };
  return { overrides: { [name]: phase } as Partial<RolloutActivities>, stopped };
}

test.each([
  {
    phase: 'key migration',
    activity: 'migrateKeys' as const,
    scope: 'full' as const,
    undone: ['restoreTable'],
  },
  {
    phase: 'key migration',
    activity: 'migrateKeys' as const,
    scope: 'flag' as const,
    undone: ['restoreTable'],
  },
  {
    // Scope flag keeps the finished key migration and undoes the template migration it interrupted.
    phase: 'template migration',
    activity: 'migrateTemplates' as const,
    scope: 'flag' as const,
    undone: ['restoreTemplates'],
  },
])(
  'a rollback (scope $scope) during the $phase cancels it, waits until it stopped, then undoes it',
  async ({ activity, scope, undone }) => {
    const running = runsUntilCancelled(activity);
    const fakes = fakeActivities(running.overrides);
    await env.withWorker(fakes.activities, async (taskQueue) => {
      const handle = await env.start(taskQueue);
      await waitForCall(fakes.calls, activity);
      await handle.executeUpdate(rollbackUpdate, { args: [request(scope)] });
      expect(await finalStatus(handle)).toMatchObject({
        outcome: 'rolled_back',
        error: 'rollback requested by carol@ops: scope check',
        keyMigration: activity === 'migrateKeys' ? null : expect.anything(),
        templateMigration: null,
      });
      const status = await handle.query(statusQuery);
      expect(status.phase).toBe('rollback');
    });
    // The phase stopped on the cancellation (it never finishes on its own), and only then did the undo start.
    expect(running.stopped.at).not.toBeNull();
    const firstUndo = fakes.calls.find((call) => call.name === undone[0]);
    expect(firstUndo?.at).toBeGreaterThanOrEqual(running.stopped.at!);
    const steps = sagaSteps(fakes.calls);
    expect(steps.slice(-1 - undone.length)).toEqual([activity, ...undone]);
    expect(steps).not.toContain('writeFlagPercent:10');
    expect(audit(fakes.calls, 'rollback_started')).toEqual([
      expect.objectContaining({
        scope,
        undo: [activity === 'migrateKeys' ? 'migrate-keys' : 'migrate-templates'],
      }),
    ]);
  },
);

test.each([
  { planScope: 'flag' as const, undone: ['setFlagPercent:0'] },
  { planScope: 'full' as const, undone: ['setFlagPercent:0', ...dataUndo] },
])('a failed gate rolls back with the plan default ($planScope)', async ({ planScope, undone }) => {
  const fakes = fakeActivities({
    runStageGates: async () => ({
      outcome: 'failed',
      gate: 'health',
      onFailure: 'rollback',
      measurement: { verdict: 'fail', value: 9, threshold: 1, sample: 40, detail: 'too many errors' },
      auditKey: 'gate-s1-r0-health#1',
      gates: [],
    }),
  });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      rollback: { scope: planScope },
      stages: [
        { percent: 10, soak: '2s' },
        { percent: 100, soak: '0s' },
      ],
      gates: { health: { provider: 'http', url: 'http://127.0.0.1:9/health', interval: '1s' } },
    });
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'rolled_back', percent: 0 });
  });
  expect(sagaSteps(fakes.calls).slice(-undone.length - 1)).toEqual(['runStageGates', ...undone]);
  expect(audit(fakes.calls, 'rollback_started')).toEqual([expect.objectContaining({ scope: planScope })]);
});
