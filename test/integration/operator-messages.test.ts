import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import {
  pauseSignal,
  resumeUpdate,
  approveUpdate,
  rollbackUpdate,
  statusQuery,
  RolloutWorkflow,
} from '../../workflows';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { flagPercent, runCliInProcess, waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';

let database: TestDatabase;
let temporal: TestTemporal;

beforeAll(async () => {
  database = await createTestDatabase('operator');
  temporal = await connectTestTemporal('operator');
});
afterAll(async () => {
  await temporal?.close();
  await database?.drop();
});

async function start(
  stages: RolloutPlanInput['stages'],
): Promise<{ handle: WorkflowHandle<typeof RolloutWorkflow>; flag: string; id: string }> {
  const flag = `op-${uniqueSuffix()}`;
  const id = `r-${uniqueSuffix()}`;
  const handle = await temporal.client.workflow.start(RolloutWorkflow, {
    workflowId: id,
    taskQueue: temporal.taskQueue,
    args: [
      {
        rolloutId: id,
        plan: { flag, unleash: { environment: 'development' }, phases: { seedModels: false }, stages },
        requestedBy: 'jest@operator',
      },
    ],
  });
  return { handle, flag, id };
}

test('pause (CLI) holds the ramp after the soak ends; a refused resume names why; resume lets it finish', async () => {
  const { handle, flag, id } = await start([
    { percent: 10, soak: '2s' },
    { percent: 100, soak: '0s' },
  ]);
  await temporal.withWorker(database.db, async () => {
    await waitForStatus(handle, (s) => s.stageIndex === 0, 'stage 1');
    expect(await runCliInProcess('pause', id, '--reason', 'error budget')).toContain(`rollout ${id}: paused`);
    await expect(
      handle.executeUpdate(resumeUpdate, {
        args: [{ actor: 'x' }],
      }),
    ).resolves.toMatchObject({ paused: false });
    await expect(runCliInProcess('resume', id)).rejects.toThrow(
      `rollout ${id}: cannot resume: the rollout is not paused`,
    );
    await handle.signal(pauseSignal, { actor: 'ui-operator', reason: 'from the Temporal UI' });
    await waitForStatus(handle, (s) => s.paused && s.soakEndsAt === null, 'the soak to end while paused');
    await sleep(1_000);
    const held = await handle.query(statusQuery);
    expect(held).toMatchObject({ stageIndex: 0, percent: 10, paused: true, pausedBy: 'ui-operator' });
    expect(await flagPercent(temporal.unleash, flag)).toBe(10);

    await handle.executeUpdate(resumeUpdate, { args: [{ actor: 'bob@ops' }] });
    expect((await finalStatus(handle)).outcome).toBe('completed');
  });
  const audit = await listAuditEvents(database.db, id);
  expect(audit.filter((e) => e.kind.startsWith('operator_')).map((e) => [e.kind, e.actor])).toEqual([
    ['operator_pause', expect.stringContaining('@')],
    ['operator_resume', 'x'],
    ['operator_pause', 'ui-operator'],
    ['operator_resume', 'bob@ops'],
  ]);
  expect(await flagPercent(temporal.unleash, flag)).toBe(100);
});

test('a stage marked approval waits for an operator; approving too early is refused', async () => {
  const { handle, flag, id } = await start([
    { percent: 10, soak: '0s' },
    { percent: 100, soak: '0s', approval: true },
  ]);
  await temporal.withWorker(database.db, async () => {
    await expect(handle.executeUpdate(approveUpdate, { args: [{ actor: 'eager' }] })).rejects.toThrow(
      WorkflowUpdateFailedError,
    );
    const waiting = await waitForStatus(handle, (s) => s.awaitingApprovalStage === 2, 'the approval wait');
    expect(waiting.percent).toBe(10);
    expect(await flagPercent(temporal.unleash, flag)).toBe(10);
    expect(await runCliInProcess('status', id)).toContain(
      `WAITING     for approval of stage 2 (100%): rollout approve ${id}`,
    );
    expect(await runCliInProcess('approve', id)).toContain('approved');
    expect((await finalStatus(handle)).outcome).toBe('completed');
  });
  expect(await flagPercent(temporal.unleash, flag)).toBe(100);
  const kinds = (await listAuditEvents(database.db, id)).map((e) => e.kind);
  expect(kinds.indexOf('operator_approve')).toBeLessThan(kinds.lastIndexOf('stage_reached'));
});

test('rollback (update) cuts a long soak short, sets the flag to 0 % and ends as rolled back, not failed', async () => {
  const { handle, flag, id } = await start([
    { percent: 30, soak: '10m' },
    { percent: 100, soak: '0s' },
  ]);
  await temporal.withWorker(database.db, async () => {
    await waitForStatus(handle, (s) => s.stageIndex === 0 && s.soakEndsAt !== null, 'the long soak');
    await handle.executeUpdate(rollbackUpdate, { args: [{ actor: 'carol@ops', reason: 'p99 latency' }] });
    const result = await finalStatus(handle);
    expect(result).toMatchObject({
      outcome: 'rolled_back',
      percent: 0,
      error: 'rollback requested by carol@ops: p99 latency',
    });
    await expect(handle.executeUpdate(rollbackUpdate, { args: [{ actor: 'late' }] })).rejects.toThrow();
  });
  expect(await flagPercent(temporal.unleash, flag)).toBe(0);
  const audit = await listAuditEvents(database.db, id);
  expect(audit.map((e) => e.kind).slice(-6)).toEqual([
    'operator_rollback',
    'rollback_started',
    'flag_rolled_back',
    'templates_restored',
    'keys_restored',
    'rolled_back',
  ]);
  expect(audit.find((e) => e.kind === 'operator_rollback')).toMatchObject({
    actor: 'carol@ops',
    details: { reason: 'p99 latency' },
  });
});
