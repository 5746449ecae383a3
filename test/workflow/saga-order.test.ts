import { finalStatus } from '../helpers/rollout-test-helpers';
import { statusQuery } from '../../workflows';
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

test('a completed rollout runs every phase in SPEC order, records each decision, and compensates nothing', async () => {
  const fakes = fakeActivities();
  const result = await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue);
    return finalStatus(handle);
  });

  expect(trail(fakes.calls)).toEqual([
    'claimRollout',
    'recordEvent:started',
    'preflight',
    'recordEvent:preflight_passed',
    'backupTable:runtime_config',
    'recordEvent:backup_verified',
    'backupTable:prompt_templates',
    'recordEvent:backup_verified',
    'backupTable:model_catalog',
    'recordEvent:backup_verified',
    'migrateKeys',
    'recordEvent:keys_migrated',
    'migrateTemplates',
    'recordEvent:templates_migrated',
    'seedModels',
    'recordEvent:models_seeded',
    'writeFlagPercent:10',
    'recordEvent:stage_reached',
    'checkFlagDrift',
    'writeFlagPercent:100',
    'recordEvent:stage_reached',
    'recordEvent:completed',
  ]);
  expect(result).toMatchObject({
    phase: 'complete',
    outcome: 'completed',
    stageIndex: 1,
    percent: 100,
    error: null,
    rollbackFailures: [],
    seeding: { inserted: 1, updated: 0, unchanged: 1 },
  });
  expect(result.backups.map((b) => b.sourceTable)).toEqual([
    'runtime_config',
    'prompt_templates',
    'model_catalog',
  ]);
  // The status keeps counts only; the item lists of the template report stay in the audit log.
  expect(result.templateMigration).not.toHaveProperty('quarantine');
});

test('the phases a plan leaves out never run, and a stage soaks before the next one starts', async () => {
  const fakes = fakeActivities();
  const result = await env.withWorker(fakes.activities, async (taskQueue) => {
    const handle = await env.start(taskQueue, {
      backup: { tables: ['model_catalog'] },
      phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
      stages: [
        { percent: 25, soak: '1s' },
        { percent: 100, soak: '0s' },
      ],
    });
    const done = await finalStatus(handle);
    // The query still answers once the run has ended, with the same status.
    expect(await handle.query(statusQuery)).toEqual(done);
    return done;
  });

  expect(sagaSteps(fakes.calls)).toEqual([
    'claimRollout',
    'preflight',
    'backupTable:model_catalog',
    'writeFlagPercent:25',
    'checkFlagDrift',
    'writeFlagPercent:100',
  ]);
  const flagChanges = fakes.calls.filter((call) => call.name === 'writeFlagPercent');
  expect(flagChanges[1]!.at - flagChanges[0]!.at).toBeGreaterThanOrEqual(1_000);
  expect(result).toMatchObject({ outcome: 'completed', keyMigration: null, seeding: null, percent: 100 });
});
