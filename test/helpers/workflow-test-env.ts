import type { Client, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import path from 'node:path';
import type { RolloutActivities } from '../../activities';
import { projectRoot } from '../../src/config/load-dotenv';
import { locateTemporalCli } from '../../src/dev/temporal-cli';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { rolloutSearchAttributes } from '../../src/temporal/search-attributes';
import { ROLLOUT_PAYLOAD_CONVERTER_PATH } from '../../src/worker/create-rollout-worker';
import { RolloutWorkflow } from '../../workflows';
import { uniqueSuffix } from './test-temporal';

type Activities = RolloutActivities;
type ActivityName = keyof Activities;
type Result<N extends ActivityName> = Awaited<ReturnType<Activities[N]>>;

/** One call a worker made to a fake activity, in the order the workflow made them. */
export interface ActivityCall {
  name: ActivityName;
  input: unknown;
  /** When the worker started it (ms since the epoch). */
  at: number;
}

/** A report with only the fields the workflow reads: the rest is for people and the audit log. */
function partial<Report>(fields: Partial<Report>): Report {
  return fields as Report;
}

const noWritesKept = {
  insertedAfterBackup: 0,
  writtenAfterBackup: 0,
  deletedAfterBackup: 0,
  rows: [],
  truncated: false,
};

/**
 * Plausible answers of every activity, shaped like the real ones (their types keep them honest). The values
 * are made up; the workflow only copies them into the status and the audit messages.
 */
export const fakeAnswers: Activities = {
  claimRollout: async () => undefined,
  preflight: async (plan) => ({
    postgresVersion: 'fake',
    tables: plan.backup.tables.map((table) => ({ table, rows: 3 })),
    unleash: { flagExists: true, enabled: true, percent: 0 },
  }),
  backupTable: async ({ rolloutId, table }) => ({
    sourceTable: table,
    backupTable: `${table}_backup_${rolloutId}`,
    rowCount: 3,
    checksum: '123',
    reused: false,
  }),
  setFlagPercent: async ({ target, percent }) => ({
    percent,
    enabled: true,
    stickiness: 'userId',
    groupId: target.flag,
    strategyId: 'fake-strategy',
    foreignStrategies: [],
  }),
  writeFlagPercent: async ({ target, percent }) => ({
    readback: {
      percent,
      enabled: true,
      stickiness: 'userId',
      groupId: target.flag,
      strategyId: 'fake-strategy',
      foreignStrategies: [],
    },
    baseline: {
      environmentEnabled: true,
      strategyId: 'fake-strategy',
      strategyName: 'flexibleRollout',
      disabled: false,
      rollout: String(percent),
      groupId: target.flag,
      stickiness: 'userId',
      constraints: [],
      variants: [],
      segments: [],
      otherStrategies: [],
    },
  }),
  checkFlagDrift: async () => ({ differences: [] }),
  runStageGates: async () => ({ outcome: 'passed', gates: [] }),
  recordEvent: async () => undefined,
  readCancelRequest: async () => ({ identity: 'fake-canceller@ops', reason: 'fake reason' }),
  migrateKeys: async ({ rolloutId }) =>
    partial<Result<'migrateKeys'>>({
      rolloutId,
      backupTable: 'fake',
      discardedTable: 'fake',
      renamed: 2,
      discarded: 1,
    }),
  restoreTable: async ({ table }) =>
    partial<Result<'restoreTable'>>({
      table,
      restored: 2,
      reinserted: 1,
      kept: noWritesKept,
    }),
  migrateTemplates: async ({ rolloutId, onInvalid }) =>
    partial<Result<'migrateTemplates'>>({
      rolloutId,
      onInvalid,
      migrated: 2,
      unchanged: 1,
      quarantined: 0,
      conflicts: [],
      conflictsTotal: 0,
      unknownFields: [],
      quarantine: [],
    }),
  restoreTemplates: async () =>
    partial<Result<'restoreTemplates'>>({
      restored: 2,
      kept: noWritesKept,
    }),
  seedModels: async () => ({
    inserted: ['fake/model-a'],
    updated: [],
    unchanged: ['fake/model-b'],
    recorded: { inserted: ['fake/model-a'], updated: [] },
  }),
  rollbackModelSeeding: async () => ({
    removed: ['fake/model-a'],
    restored: [],
    kept: [],
    alreadyAbsent: [],
  }),
};

/** A failure Temporal does not retry, as the real activities throw for errors a retry cannot fix. */
export function permanentFailure(message: string): never {
  throw ApplicationFailure.nonRetryable(message, 'FakeFailure');
}

/**
 * The fake activities of one test: {@link fakeAnswers} with `overrides` in their place, each call logged in
 * `calls` before it runs.
 *
 * @example
 * const fakes = fakeActivities({ migrateKeys: () => permanentFailure('disk full') });
 * // ... run a rollout with fakes.activities, then:
 * expect(trail(fakes.calls)).toContain('restoreTable');
 */
export function fakeActivities(overrides: Partial<Activities> = {}): {
  activities: Activities;
  calls: ActivityCall[];
} {
  const calls: ActivityCall[] = [];
  const implementations: Activities = { ...fakeAnswers, ...overrides };
  const logged = (name: ActivityName) => (input: never) => {
    calls.push({ name, input, at: Date.now() });
    return (implementations[name] as (input: never) => Promise<unknown>)(input);
  };
  const activities = Object.fromEntries(
    (Object.keys(implementations) as ActivityName[]).map((name) => [name, logged(name)]),
  ) as unknown as Activities;
  return { activities, calls };
}

/**
 * The calls as short readable steps: audit rows by kind (`recordEvent:stage_reached`), flag changes by
 * percent (`setFlagPercent:50`), backups by table; every other call by its activity name.
 */
export function trail(calls: readonly ActivityCall[]): string[] {
  return calls.map(({ name, input }) => {
    const fields = input as { kind?: string; percent?: number; table?: string };
    if (name === 'recordEvent') return `recordEvent:${fields.kind}`;
    if (name === 'setFlagPercent') return `setFlagPercent:${fields.percent}`;
    if (name === 'writeFlagPercent') return `writeFlagPercent:${fields.percent}`;
    if (name === 'backupTable') return `backupTable:${fields.table}`;
    return name;
  });
}

/** The activities called, without the audit writes: the saga's own steps. */
export function sagaSteps(calls: readonly ActivityCall[]): string[] {
  return trail(calls).filter((step) => !step.startsWith('recordEvent:'));
}

let runtime: Runtime | undefined;

export interface WorkflowTestEnv {
  client: Client;
  /** Starts a rollout of a fresh flag; the plan defaults to every phase and two short stages. */
  start(taskQueue: string, plan?: Partial<RolloutPlanInput>): Promise<WorkflowHandle<typeof RolloutWorkflow>>;
  /** Runs a worker of the real workflows with `activities` on a fresh task queue until `work` settles. */
  withWorker<T>(activities: Activities, work: (taskQueue: string) => Promise<T>): Promise<T>;
  teardown(): Promise<void>;
}

/**
 * A Temporal dev server of its own (`TestWorkflowEnvironment.createLocal`, run from the CLI the stack uses,
 * with the rollout's search attributes), and workers of the bundled workflows with fake activities: the
 * workflow's logic, tested on the real server without Postgres or Unleash.
 *
 * @example
 * const env = await startWorkflowTestEnv();
 * const fakes = fakeActivities();
 * await env.withWorker(fakes.activities, async (taskQueue) => (await env.start(taskQueue)).result());
 * await env.teardown();
 */
export async function startWorkflowTestEnv(): Promise<WorkflowTestEnv> {
  // The SDK logs each failed activity and workflow as a warning, and these tests fail them on purpose: errors
  // only. Installed before createLocal, which would install a default runtime.
  runtime ??= Runtime.install({ logger: new DefaultLogger('ERROR') });
  const executable = await locateTemporalCli(path.join(projectRoot, '.tools'), (line) =>
    process.stderr.write(`[temporal-cli] ${line}\n`),
  );
  const bundle: Promise<WorkflowBundleWithSourceMap> = bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    payloadConverterPath: ROLLOUT_PAYLOAD_CONVERTER_PATH,
    logger: new DefaultLogger('WARN'),
  });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: executable },
      searchAttributes: [...rolloutSearchAttributes],
    },
    client: { dataConverter: { payloadConverterPath: ROLLOUT_PAYLOAD_CONVERTER_PATH } },
  });
  return {
    client: env.client,
    start: (taskQueue, plan = {}) => {
      const rolloutId = `r-${uniqueSuffix()}`;
      return env.client.workflow.start(RolloutWorkflow, {
        workflowId: rolloutId,
        taskQueue,
        args: [
          {
            rolloutId,
            plan: {
              flag: `wf-${uniqueSuffix()}`,
              unleash: { environment: 'development' },
              stages: [
                { percent: 10, soak: '1s' },
                { percent: 100, soak: '0s' },
              ],
              ...plan,
            },
            requestedBy: 'jest@workflow',
          },
        ],
      });
    },
    withWorker: async (activities, work) => {
      const taskQueue = `wf-${uniqueSuffix()}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: await bundle,
        dataConverter: { payloadConverterPath: ROLLOUT_PAYLOAD_CONVERTER_PATH },
        activities,
      });
      return worker.runUntil(() => work(taskQueue));
    },
    teardown: async () => {
      // A bundle still building when the file ends would run on into the next test file's module registry.
      await bundle.catch(() => undefined);
      await env.teardown();
    },
  };
}

/** Holds a fake activity until the test lets it go, so a message can arrive at a known point. */
export class Latch {
  private open!: () => void;
  private readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  /** Resolves once {@link release} was called. */
  wait(): Promise<void> {
    return this.opened;
  }
  release(): void {
    this.open();
  }
}

/** Waits until the workflow has called the activity `name` (or fails after `timeoutMs`). */
export async function waitForCall(
  calls: readonly ActivityCall[],
  name: ActivityName,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!calls.some((call) => call.name === name)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for a call of ${name}: ${trail(calls)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Fake activities whose data phase `name` runs until the test releases it, so a message (a pause, a rollback,
 * a cancel) lands while it runs.
 *
 * @example
 * const held = heldInDataPhase('migrateKeys');
 * // start a rollout with held.activities, waitForCall(held.calls, 'migrateKeys'), send the message, then:
 * held.latch.release();
 */
export function heldInDataPhase(
  name: 'migrateKeys' | 'migrateTemplates',
  overrides: Partial<Activities> = {},
): ReturnType<typeof fakeActivities> & { latch: Latch } {
  const latch = new Latch();
  const held: Partial<Activities> =
    name === 'migrateKeys'
      ? { migrateKeys: async (input) => (await latch.wait(), fakeAnswers.migrateKeys(input)) }
      : { migrateTemplates: async (input) => (await latch.wait(), fakeAnswers.migrateTemplates(input)) };
  return { ...fakeActivities({ ...overrides, ...held }), latch };
}
