/**
 * Records the RolloutWorkflow histories that test/unit/workflow-replay.test.ts replays against the current
 * workflow code, so a change to workflows/ that would break a rollout already running on a released worker
 * fails CI (see docs/workflow-versioning.md).
 *
 * Each folder under test/replay-histories/ holds the histories of one released version of the workflow code,
 * named after the commit they were recorded from: one JSON file per run (the JSON of `temporal workflow show
 * --output json`, see test/helpers/replay-history-json.ts, formatted by prettier), named after its scenario
 * (`<scenario>.run-<n>.json` for each run of a rollout that continued as new).
 * Recorded so far:
 *   b31701a/  RolloutWorkflow at commit b31701a (2026-12-02, issue 9: gated soak, drift guard, rollback scope)
 *   2ef03e5/  RolloutWorkflow at commit 2ef03e5 (2026-12-02, issues 9 and 10: every patch of that day taken —
 *             UI details and search attributes, RolledBack end, cancel attribution, rollback interrupting a data
 *             phase, Unleash rounds, approval escalation, the cancel edges)
 *
 * When: at every release of workflow code (a commit that will run on the workers), record its histories into a
 * new folder and commit them with the release. Never re-record or edit an existing folder: its histories are
 * what running rollouts of that version look like, and a replay failure against them is the signal that a
 * change needs `patched()`. The script refuses an output folder that exists.
 *
 * How: record from a clean checkout of the commit, not from a work tree with unreleased edits (the copy of
 * the two files is needed while the commit predates them, and harmless after):
 *   repo=$PWD commit=<commit>
 *   git worktree add /tmp/replay-rec "$commit" && ln -s "$repo/node_modules" /tmp/replay-rec/node_modules
 *   cp --parents test/replay-histories/record-histories.ts test/helpers/replay-history-json.ts /tmp/replay-rec/
 *   (cd /tmp/replay-rec && npx tsx test/replay-histories/record-histories.ts --out "$repo/test/replay-histories/$commit")
 *   git worktree remove --force /tmp/replay-rec
 * It imports the checkout's own workflows/ and fake activities (test/helpers/workflow-test-env.ts), starts two
 * Temporal dev servers of its own (the Temporal CLI as the tests find it: $TEMPORAL_CLI, PATH or .tools/bin; the
 * second one suggests continue-as-new early), runs every scenario below with fake activities, checks that each
 * ended as its name says, and writes one file per run. About two minutes. `--only a,b` records some scenarios.
 *
 * Scenarios use fake activities: the history holds what the workflow decided (commands, timers, messages),
 * which is what replay checks; the activities' own behaviour is tested elsewhere.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { format, resolveConfig } from 'prettier';
import type { RolloutActivities } from '../../activities';
import { locateTemporalCli } from '../../src/dev/temporal-cli';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { rolloutSearchAttributes } from '../../src/temporal/search-attributes';
import {
  approveSignal,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  rollbackSignal,
  rollbackUpdate,
  RolloutWorkflow,
  statusQuery,
} from '../../workflows';
import type { RolloutStatus } from '../../workflows/rollout-status';
import { historyToJson } from '../helpers/replay-history-json';
import { fakeActivities, fakeAnswers, Latch, permanentFailure, trail } from '../helpers/workflow-test-env';

const root = path.resolve(__dirname, '../..');
const payloadConverterPath = require.resolve('../../src/temporal/tolerant-payload-converter');

type Handle = WorkflowHandle<typeof RolloutWorkflow>;

interface Scenario {
  name: string;
  /** At most 30 characters (a rollout id). */
  rolloutId: string;
  plan: Partial<RolloutPlanInput>;
  activities?: (latch: Latch) => Partial<RolloutActivities>;
  /** On the server that suggests continue-as-new after a few events. */
  continueAsNew?: boolean;
  /** Sends the operator messages and waits for the end; the workflow's result or failure is caught after. */
  drive?: (handle: Handle, tools: DriveTools) => Promise<void>;
  /** The status the run must end with, and steps (audit kinds, activities) its calls must include. */
  expect: { outcome: RolloutStatus['outcome']; steps?: string[]; continuedAsNew?: boolean };
}

interface DriveTools {
  latch: Latch;
  /** Sends a signal whose payload no converter knows (as `temporal workflow signal --input-meta` can). */
  signalUndecodable: (signalName: string) => Promise<void>;
}

const noDataPhases = { migrateKeys: false, migrateTemplates: false, seedModels: false };
const healthGate = {
  health: { provider: 'http', url: 'http://127.0.0.1:9/health', interval: '1s' },
} as const;
const operator = (actor: string, reason?: string) => (reason ? { actor, reason } : { actor });

const measurement = (verdict: 'pass' | 'fail', value: number) => ({
  verdict,
  value,
  threshold: 1,
  sample: 40,
  detail: verdict === 'pass' ? '0 errors in 40 requests' : `${value} errors in 40 requests`,
});
const tally = (verdict: 'pass' | 'fail', measured: number) => ({
  gate: 'health',
  measured,
  failures: verdict === 'fail' ? 3 : 0,
  consecutivePasses: verdict === 'pass' ? measured : 0,
  inconclusiveSince: null,
  last: [{ ...measurement(verdict, verdict === 'pass' ? 0 : 9), at: '2026-12-02T13:00:00.000Z' }],
});

/** Fake gates answering `answers` in turn, then `passed`. */
function gatesAnswering(
  ...answers: Awaited<ReturnType<RolloutActivities['runStageGates']>>[]
): Partial<RolloutActivities> {
  const remaining = [...answers];
  return { runStageGates: async () => remaining.shift() ?? { outcome: 'passed', gates: [tally('pass', 2)] } };
}

/** Polls the status query until `ready` holds (60 s at most). */
async function until(handle: Handle, ready: (s: RolloutStatus) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await handle.query(statusQuery);
    if (ready(status)) return;
    if (status.outcome !== 'running') throw new Error(`ended ${status.outcome} before ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const scenarios: Scenario[] = [
  {
    name: 'completed',
    rolloutId: 'replay-completed',
    plan: {
      stages: [
        { percent: 10, soak: '1s' },
        { percent: 50, soak: '1s' },
        { percent: 100, soak: '0s' },
      ],
    },
    expect: {
      outcome: 'completed',
      steps: ['migrateKeys', 'migrateTemplates', 'seedModels', 'writeFlagPercent:100'],
    },
  },
  {
    name: 'approval-pause-resume',
    rolloutId: 'replay-approval',
    plan: {
      phases: noDataPhases,
      stages: [
        { percent: 10, soak: '0s' },
        { percent: 50, soak: '1s', approval: true },
        { percent: 100, soak: '0s' },
      ],
    },
    drive: async (handle) => {
      await until(handle, (s) => s.awaitingApprovalStage === 2, 'the approval wait');
      await handle.executeUpdate(pauseUpdate, { args: [operator('alice@ops', 'replay: hold')] });
      await handle.signal(approveSignal, operator('carol@ops', 'dashboards green'));
      await until(
        handle,
        (s) => s.awaitingApprovalStage === null && s.paused,
        'the approval, held by the pause',
      );
      await handle.executeUpdate(resumeUpdate, { args: [operator('bob@ops')] });
    },
    expect: {
      outcome: 'completed',
      steps: ['recordEvent:operator_pause', 'recordEvent:operator_approve', 'recordEvent:operator_resume'],
    },
  },
  {
    name: 'operator-rollback',
    rolloutId: 'replay-operator-rollback',
    plan: {
      stages: [
        { percent: 30, soak: '10m' },
        { percent: 100, soak: '0s' },
      ],
    },
    drive: async (handle) => {
      await until(handle, (s) => s.soakEndsAt !== null, 'the soak');
      await handle.signal(rollbackSignal, operator('carol@ops', 'p99 latency'));
    },
    expect: {
      outcome: 'rolled_back',
      steps: ['setFlagPercent:0', 'rollbackModelSeeding', 'restoreTemplates', 'restoreTable'],
    },
  },
  {
    name: 'flag-scope-rollback',
    rolloutId: 'replay-flag-scope',
    plan: {
      rollback: { scope: 'flag' },
      stages: [
        { percent: 30, soak: '10m' },
        { percent: 100, soak: '0s' },
      ],
    },
    drive: async (handle) => {
      await until(handle, (s) => s.soakEndsAt !== null, 'the soak');
      await handle.executeUpdate(rollbackUpdate, { args: [operator('carol@ops', 'flag only')] });
    },
    expect: { outcome: 'rolled_back', steps: ['setFlagPercent:0', 'recordEvent:rolled_back'] },
  },
  {
    name: 'data-phase-failure',
    rolloutId: 'replay-data-failure',
    plan: {},
    activities: () => ({ migrateTemplates: async () => permanentFailure('disk full') }),
    expect: {
      outcome: 'rolled_back',
      steps: ['restoreTemplates', 'restoreTable', 'recordEvent:rolled_back'],
    },
  },
  {
    name: 'cancelled',
    rolloutId: 'replay-cancelled',
    plan: {
      stages: [
        { percent: 30, soak: '10m' },
        { percent: 100, soak: '0s' },
      ],
    },
    drive: async (handle) => {
      await until(handle, (s) => s.soakEndsAt !== null, 'the soak');
      await handle.cancel();
    },
    expect: { outcome: 'cancelled', steps: ['setFlagPercent:0', 'restoreTable', 'recordEvent:cancelled'] },
  },
  {
    name: 'gates-pass-then-fail',
    rolloutId: 'replay-gates-fail',
    plan: {
      phases: noDataPhases,
      gates: healthGate,
      stages: [
        { percent: 10, soak: '2s' },
        { percent: 50, soak: '2s' },
        { percent: 100, soak: '0s' },
      ],
    },
    activities: () =>
      gatesAnswering(
        { outcome: 'passed', gates: [tally('pass', 2)] },
        {
          outcome: 'failed',
          gate: 'health',
          onFailure: 'rollback',
          measurement: measurement('fail', 9),
          auditKey: 'gate-s2-r0-health#3',
          gates: [tally('fail', 3)],
        },
      ),
    expect: {
      outcome: 'rolled_back',
      steps: [
        'recordEvent:gates_passed',
        'writeFlagPercent:50',
        'recordEvent:gate_failed',
        'setFlagPercent:0',
      ],
    },
  },
  {
    name: 'gate-hold-escalation',
    rolloutId: 'replay-gate-hold',
    plan: {
      phases: noDataPhases,
      gates: { health: { ...healthGate.health, onFailure: 'hold' } },
      escalateAfter: '4s',
      onEscalation: 'rollback',
      stages: [
        { percent: 10, soak: '2s' },
        { percent: 100, soak: '0s' },
      ],
    },
    activities: () =>
      gatesAnswering(
        {
          outcome: 'failed',
          gate: 'health',
          onFailure: 'hold',
          measurement: measurement('fail', 9),
          auditKey: 'gate-s1-r0-health#3',
          gates: [tally('fail', 3)],
        },
        {
          outcome: 'inconclusive',
          gate: 'health',
          reason: 'gate health inconclusive: no traffic',
          gates: [],
        },
      ),
    drive: async (handle) => {
      // The hold is answered; the inconclusive pause after it is not, so the escalation rolls back.
      await until(handle, (s) => s.paused, 'the hold');
      await handle.signal(resumeSignal, operator('bob@ops'));
    },
    expect: {
      outcome: 'rolled_back',
      steps: [
        'recordEvent:gate_failed',
        'recordEvent:gate_inconclusive',
        'recordEvent:escalated',
        'setFlagPercent:0',
      ],
    },
  },
  {
    name: 'drift-pause',
    rolloutId: 'replay-drift',
    plan: {
      phases: noDataPhases,
      stages: [
        { percent: 10, soak: '1s' },
        { percent: 100, soak: '0s' },
      ],
    },
    activities: () => {
      let drifted = true;
      return {
        checkFlagDrift: async () => {
          const differences = drifted ? [{ field: 'rollout' as const, expected: '10', actual: '40' }] : [];
          drifted = false;
          return { differences };
        },
      };
    },
    drive: async (handle) => {
      await until(handle, (s) => s.paused && s.pausedBy === 'drift-guard', 'the drift pause');
      await handle.signal(resumeSignal, operator('bob@ops', 'the edit was a mistake'));
    },
    expect: { outcome: 'completed', steps: ['recordEvent:flag_drift', 'writeFlagPercent:100'] },
  },
  {
    name: 'ignored-signals',
    rolloutId: 'replay-ignored',
    plan: {
      stages: [
        { percent: 10, soak: '0s' },
        { percent: 100, soak: '0s' },
      ],
    },
    activities: (latch) => ({
      migrateKeys: async (input) => {
        await latch.wait();
        return fakeAnswers.migrateKeys(input);
      },
    }),
    drive: async (handle, { latch, signalUndecodable }) => {
      await until(handle, (s) => s.phase === 'migrate-keys', 'the key migration');
      // Refused updates leave no trace in the history; the signals below are each ignored and audited.
      await handle.executeUpdate(resumeUpdate, { args: [operator('bob@ops')] }).catch(() => undefined);
      await handle.signal(resumeSignal, operator('bob@ops'));
      await handle.signal(pauseSignal, 'not an object' as never);
      await handle.signal('promote');
      await signalUndecodable('rollback');
      await until(handle, (s) => s.ignored.count === 4, 'four ignored signals');
      latch.release();
    },
    expect: {
      outcome: 'completed',
      steps: ['recordEvent:operator_messages_ignored', 'writeFlagPercent:100'],
    },
  },
  {
    name: 'continue-as-new',
    rolloutId: 'replay-continue-as-new',
    continueAsNew: true,
    plan: {
      stages: [
        { percent: 10, soak: '2s' },
        { percent: 50, soak: '2s' },
        { percent: 100, soak: '0s' },
      ],
    },
    expect: { outcome: 'completed', continuedAsNew: true, steps: ['writeFlagPercent:100'] },
  },
];

/**
 * The server of the continue-as-new scenario suggests it once a run's history has this many events, so the
 * rollout hands over during its ramp instead of at Temporal's default (4,000 events).
 */
const SUGGEST_CONTINUE_AS_NEW_AT_EVENTS = 80;

function parseArgs(): { out: string; only: Set<string> | null } {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const at = args.indexOf(flag);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const out = value('--out');
  if (!out) throw new Error('usage: record-histories.ts --out <test/replay-histories/<commit>> [--only a,b]');
  const only = value('--only');
  return { out: path.resolve(out), only: only ? new Set(only.split(',')) : null };
}

/** Every run of the workflow, first to last: follows continue-as-new from the first run. */
async function runHistories(env: TestWorkflowEnvironment, workflowId: string, firstRunId: string) {
  const runs = [];
  for (let runId: string | null | undefined = firstRunId; runId;) {
    const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.push(history);
    const last = history.events?.at(-1);
    runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return runs;
}

async function recordOn(
  scenariosHere: Scenario[],
  extraArgs: string[],
  executable: string,
  workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>,
  out: string,
): Promise<void> {
  if (scenariosHere.length === 0) return;
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: executable },
      searchAttributes: [...rolloutSearchAttributes],
      extraArgs,
    },
    client: { dataConverter: { payloadConverterPath } },
  });
  try {
    for (const scenario of scenariosHere) {
      const started = Date.now();
      const latch = new Latch();
      const fakes = fakeActivities(scenario.activities?.(latch) ?? {});
      const taskQueue = `replay-${scenario.name}-${randomUUID().slice(0, 8)}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle,
        dataConverter: { payloadConverterPath },
        activities: fakes.activities,
      });
      const { status, firstRunId } = await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(RolloutWorkflow, {
          workflowId: scenario.rolloutId,
          taskQueue,
          args: [
            {
              rolloutId: scenario.rolloutId,
              plan: {
                flag: `replay-${scenario.name}`,
                unleash: { environment: 'development' },
                ...scenario.plan,
              },
              requestedBy: 'record-histories',
            },
          ],
        });
        const tools: DriveTools = {
          latch,
          signalUndecodable: async (signalName) => {
            await env.client.workflowService.signalWorkflowExecution({
              namespace: env.client.options.namespace,
              workflowExecution: { workflowId: scenario.rolloutId },
              signalName,
              input: {
                payloads: [
                  {
                    metadata: { encoding: Buffer.from('application/x-unknown') },
                    data: Buffer.from('{"actor":"mallory"}'),
                  },
                ],
              },
              identity: 'record-histories',
              requestId: randomUUID(),
            });
          },
        };
        await scenario.drive?.(handle, tools);
        await handle.result().catch(() => undefined); // failed and cancelled rollouts end with an error
        const latest = env.client.workflow.getHandle<typeof RolloutWorkflow>(scenario.rolloutId);
        return { status: await latest.query(statusQuery), firstRunId: handle.firstExecutionRunId };
      });
      const steps = trail(fakes.calls);
      const problems = [
        status.outcome !== scenario.expect.outcome &&
          `ended ${status.outcome}, expected ${scenario.expect.outcome}`,
        ...(scenario.expect.steps ?? [])
          .filter((step) => !steps.includes(step))
          .map((step) => `no ${step} among the calls`),
        scenario.expect.continuedAsNew === true && status.continuedAsNew === 0 && 'did not continue as new',
        scenario.expect.continuedAsNew !== true && status.continuedAsNew > 0 && 'continued as new',
      ].filter((problem): problem is string => typeof problem === 'string');
      if (problems.length > 0) throw new Error(`scenario ${scenario.name}: ${problems.join('; ')}`);

      const runs = await runHistories(env, scenario.rolloutId, firstRunId);
      for (const [index, history] of runs.entries()) {
        const file = path.join(
          out,
          runs.length > 1 ? `${scenario.name}.run-${index + 1}.json` : `${scenario.name}.json`,
        );
        writeFileSync(
          file,
          await format(JSON.stringify(historyToJson(history)), {
            ...(await resolveConfig(file)),
            parser: 'json',
            filepath: file,
          }),
        );
        process.stdout.write(
          `${path.basename(file)}: ${history.events?.length} events (${status.outcome}, ${Date.now() - started} ms)\n`,
        );
      }
    }
  } finally {
    await env.teardown();
  }
}

async function main(): Promise<void> {
  const { out, only } = parseArgs();
  if (existsSync(out))
    throw new Error(`${out} exists: recorded histories are never rewritten; pick a new folder`);
  const chosen = scenarios.filter((s) => only === null || only.has(s.name));
  if (only && chosen.length !== only.size)
    throw new Error(`unknown scenario in --only; known: ${scenarios.map((s) => s.name)}`);
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const executable = await locateTemporalCli(path.join(root, '.tools'), (line) =>
    process.stderr.write(`${line}\n`),
  );
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    payloadConverterPath,
    logger: new DefaultLogger('WARN'),
  });
  // Written beside the folder and moved in place at the end, so a failed recording leaves no half folder.
  const partial = `${out}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  await recordOn(
    chosen.filter((s) => !s.continueAsNew),
    [],
    executable,
    workflowBundle,
    partial,
  );
  await recordOn(
    chosen.filter((s) => s.continueAsNew),
    [
      '--dynamic-config-value',
      `limit.historyCount.suggestContinueAsNew=${SUGGEST_CONTINUE_AS_NEW_AT_EVENTS}`,
    ],
    executable,
    workflowBundle,
    partial,
  );
  renameSync(partial, out);
  process.stdout.write(`recorded ${chosen.length} scenarios into ${path.relative(root, out) || out}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
