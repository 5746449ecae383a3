import { resumeSignal, statusQuery } from '../../workflows';
import { waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';
import {
  fakeActivities,
  sagaSteps,
  startWorkflowTestEnv,
  trail,
  type WorkflowTestEnv,
} from '../helpers/workflow-test-env';

let env: WorkflowTestEnv;

beforeAll(async () => {
  env = await startWorkflowTestEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

test('a hand edit between stages pauses the rollout with the difference; resume writes the next stage', async () => {
  let drifted = true;
  const fakes = fakeActivities({
    checkFlagDrift: async () => ({
      differences: drifted ? [{ field: 'rollout', expected: '10', actual: '40' }] : [],
    }),
  });
  await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
      stages: [
        { percent: 10, soak: '1s' },
        { percent: 100, soak: '0s' },
      ],
    });
    const held = await waitForStatus(handle, (s) => s.paused, 'the drift pause');
    expect(held).toMatchObject({ pausedBy: 'drift-guard', stageIndex: 0, percent: 10 });
    expect(held.events.at(-1)).toMatchObject({ kind: 'flag_drift' });
    expect(held.events.at(-1)!.message).toContain('rollout 10 → 40');
    expect(sagaSteps(fakes.calls).at(-1)).toBe('checkFlagDrift');
    drifted = false;
    await handle.signal(resumeSignal, { actor: 'bob@ops' });
    expect(await finalStatus(handle)).toMatchObject({ outcome: 'completed', percent: 100 });
    expect((await handle.query(statusQuery)).paused).toBe(false);
  });
  expect(sagaSteps(fakes.calls).slice(-3)).toEqual([
    'writeFlagPercent:10',
    'checkFlagDrift',
    'writeFlagPercent:100',
  ]);
  const flagDrift = fakes.calls.find(
    (call) => call.name === 'recordEvent' && trail([call])[0] === 'recordEvent:flag_drift',
  );
  expect(flagDrift?.input).toMatchObject({ actor: 'drift-guard', details: { stage: 2 } });
});
