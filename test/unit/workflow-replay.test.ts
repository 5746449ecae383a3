import { DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import path from 'node:path';
import {
  bundleRolloutWorkflows,
  recordedHistories,
  replayHistories,
  type ReplayOutcome,
} from '../helpers/replay-histories';

/**
 * Workflow determinism across deploys (issue 9, docs/workflow-versioning.md): every committed history of
 * RolloutWorkflow (test/replay-histories/<version>/*.json, recorded by record-histories.ts from released code)
 * is replayed against the workflow code of this tree. A change that issues other commands than a running
 * rollout's history holds (another activity, a reorder, a timer more or less) fails here with the history
 * and the command that differ: guard it with `patched()`. No server is involved: the replay worker reads the
 * histories from disk.
 */

// The replay result carries each error in full; the SDK's own logs of them (core's included) would only repeat it,
// and the probe's are expected.
Runtime.install({
  logger: new DefaultLogger('ERROR', () => undefined),
  telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
});

const histories = recordedHistories();
let current: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  const started = Date.now();
  current = await bundleRolloutWorkflows();
  process.stdout.write(`[replay] bundled workflows/ in ${Date.now() - started} ms\n`);
}, 120_000);

/** What a replay reports: `replays` or the error, so a failure names the command that differs. */
function verdict(outcome: ReplayOutcome | undefined): string {
  if (outcome === undefined) return 'not replayed';
  return outcome.error ? `${outcome.error.name}: ${outcome.error.message}` : 'replays';
}

test('the committed histories cover the rollouts issue 9 names, each run of a continued rollout included', () => {
  const scenarios = new Set(
    histories.map(({ name }) => path.basename(name).replace(/(\.run-\d+)?\.json$/, '')),
  );
  for (const scenario of [
    'completed',
    'operator-rollback',
    'approval-pause-resume',
    'gates-pass-then-fail',
    'data-phase-failure',
    'drift-pause',
    'ignored-signals',
    'continue-as-new',
  ])
    expect(scenarios).toContain(scenario);
  expect(histories.filter(({ name }) => name.includes('continue-as-new.run-')).length).toBeGreaterThanOrEqual(
    2,
  );
});

// One replay per test, so a failure names its history. Jest pins an unhandled rejection in the workflow code on
// the running test and reports it bare (e.g. `CancelledFailure: Workflow cancelled`): a live worker fails that
// workflow task the same way (docs/workflow-versioning.md).
describe.each(histories)('$name', (history) => {
  test('replays on the current workflow code', async () => {
    const [outcome] = await replayHistories(current, [history]);
    expect(verdict(outcome)).toBe('replays');
  });
});

test('probe: a reordered workflow (model seeding before template migration) fails the replay with a nondeterminism error', async () => {
  const probe = await bundleRolloutWorkflows({
    module: require.resolve('../../workflows/rollout-phases'),
    replacement: require.resolve('../helpers/replay-probe-phases'),
  });
  const completed = histories.filter(({ name }) => /\/completed\.json$/.test(name));
  expect(completed.length).toBeGreaterThan(0);
  const outcomes = await replayHistories(probe, completed);
  for (const outcome of outcomes) {
    expect(outcome.error).toBeInstanceOf(DeterminismViolationError);
    // The replayer names the two activities: the one in the history and the one the changed code scheduled.
    expect(outcome.error?.message).toMatch(
      /migrateTemplates[\s\S]*seedModels|seedModels[\s\S]*migrateTemplates/,
    );
  }
  // The same histories replay on the unchanged code, so the probe's failure is the reorder's doing.
  for (const outcome of await replayHistories(current, completed)) expect(verdict(outcome)).toBe('replays');
}, 120_000);
