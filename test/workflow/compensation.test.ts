import { WorkflowFailedError } from '@temporalio/client';
import type { RolloutActivities } from '../../activities';
import { statusQuery } from '../../workflows';
import {
  fakeActivities,
  fakeAnswers,
  permanentFailure,
  sagaSteps,
  startWorkflowTestEnv,
  trail,
  type WorkflowTestEnv,
} from '../helpers/workflow-test-env';
import { waitForStatus } from '../helpers/rollout-test-helpers';

let env: WorkflowTestEnv;

beforeAll(async () => {
  env = await startWorkflowTestEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

/** Runs a rollout with `overrides` to its end; returns its failure, final status and the calls made. */
async function runToFailure(overrides: Partial<RolloutActivities>) {
  const fakes = fakeActivities(overrides);
  return env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    const failure = await handle.result().then(
      () => undefined,
      (error: unknown) => error,
    );
    return { failure, status: await handle.query(statusQuery), calls: fakes.calls };
  });
}

/** The innermost message of a workflow failure: the activity's own error. */
function rootMessage(error: unknown): string {
  let cause = error as { cause?: unknown; message?: string } | undefined;
  while (cause?.cause) cause = cause.cause as typeof cause;
  return cause?.message ?? String(error);
}

/** Every step up to the failing call, as a completed rollout makes them (see saga-order.test.ts). */
const forward = [
  'claimRollout',
  'preflight',
  'backupTable:runtime_config',
  'backupTable:prompt_templates',
  'backupTable:model_catalog',
  'migrateKeys',
  'migrateTemplates',
  'seedModels',
  'writeFlagPercent:10',
  'checkFlagDrift',
  'writeFlagPercent:100',
];
const upTo = (step: string) => forward.slice(0, forward.indexOf(step) + 1);

test.each([
  {
    phase: 'backup',
    overrides: { backupTable: () => permanentFailure('disk full') },
    failedAt: 'backupTable:runtime_config',
    compensations: [],
    outcome: 'failed',
  },
  {
    phase: 'key migration',
    overrides: { migrateKeys: () => permanentFailure('disk full') },
    failedAt: 'migrateKeys',
    compensations: ['restoreTable'],
    outcome: 'rolled_back',
  },
  {
    phase: 'template migration',
    overrides: { migrateTemplates: () => permanentFailure('disk full') },
    failedAt: 'migrateTemplates',
    compensations: ['restoreTemplates', 'restoreTable'],
    outcome: 'rolled_back',
  },
  {
    phase: 'model seeding',
    overrides: { seedModels: () => permanentFailure('disk full') },
    failedAt: 'seedModels',
    compensations: ['rollbackModelSeeding', 'restoreTemplates', 'restoreTable'],
    outcome: 'rolled_back',
  },
  {
    phase: 'ramp',
    overrides: {
      writeFlagPercent: (input) =>
        input.percent === 100 ? permanentFailure('disk full') : fakeAnswers.writeFlagPercent(input),
    } satisfies Partial<RolloutActivities>,
    failedAt: 'writeFlagPercent:100',
    compensations: ['setFlagPercent:0', 'rollbackModelSeeding', 'restoreTemplates', 'restoreTable'],
    outcome: 'rolled_back',
  },
])(
  'a failure in the $phase phase undoes the phases that started, in reverse, the flag first',
  async ({ overrides, failedAt, compensations, outcome }) => {
    const { failure, status, calls } = await runToFailure(overrides);

    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootMessage(failure)).toBe('disk full');
    expect(sagaSteps(calls)).toEqual([...upTo(failedAt), ...compensations]);
    expect(status).toMatchObject({ outcome, error: 'disk full', rollbackFailures: [] });
    const records = trail(calls).filter((step) => step.startsWith('recordEvent:'));
    // The run row ends in the outcome; a rollback says so first, when there is anything to undo.
    expect(records.at(-1)).toBe(`recordEvent:${outcome}`);
    expect(records.includes('recordEvent:rollback_started')).toBe(compensations.length > 0);
  },
);

test('a compensation that fails is reported as left undone; the ones after it still run', async () => {
  const { failure, status, calls } = await runToFailure({
    seedModels: () => permanentFailure('catalogue locked'),
    restoreTemplates: () => permanentFailure('backup changed'),
  });

  expect(sagaSteps(calls).slice(-3)).toEqual(['rollbackModelSeeding', 'restoreTemplates', 'restoreTable']);
  expect(status).toMatchObject({
    outcome: 'rollback_failed',
    error: 'catalogue locked',
    rollbackFailures: [{ phase: 'migrate-templates', error: 'backup changed' }],
    operatorAction: expect.stringContaining('left undone: migrate-templates.'),
  });
  expect(trail(calls).slice(-4)).toEqual([
    'recordEvent:compensation_failed',
    'restoreTable',
    'recordEvent:keys_restored',
    'recordEvent:rollback_failed',
  ]);
  expect(String((failure as WorkflowFailedError).cause?.message)).toBe(
    'rollback failed after "catalogue locked": migrate-templates: backup changed',
  );
});

test('a disabled phase is never compensated: a ramp failure with no data phases only sets the flag to 0', async () => {
  const fakes = fakeActivities({
    writeFlagPercent: (input) =>
      input.percent === 100 ? permanentFailure('Unleash refused') : fakeAnswers.writeFlagPercent(input),
  });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    });
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
  });
  expect(sagaSteps(fakes.calls).slice(-4)).toEqual([
    'writeFlagPercent:10',
    'checkFlagDrift',
    'writeFlagPercent:100',
    'setFlagPercent:0',
  ]);
});

test('cancelling a rollout mid-soak compensates everything, then ends as cancelled', async () => {
  const fakes = fakeActivities();
  const status = await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      stages: [
        { percent: 10, soak: '10m' },
        { percent: 100, soak: '0s' },
      ],
    });
    await waitForStatus(handle, (s) => s.soakEndsAt !== null, 'the soak');
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    return handle.query(statusQuery);
  });
  expect(sagaSteps(fakes.calls).slice(-6)).toEqual([
    'writeFlagPercent:10',
    // Who cancelled (the request's identity in the history), before anything is undone.
    'readCancelRequest',
    'setFlagPercent:0',
    'rollbackModelSeeding',
    'restoreTemplates',
    'restoreTable',
  ]);
  expect(status).toMatchObject({
    outcome: 'cancelled',
    error: 'cancelled by fake-canceller@ops: fake reason',
    cancelledBy: 'fake-canceller@ops',
    percent: 0,
  });
});
