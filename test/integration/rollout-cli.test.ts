import { WorkflowNotFoundError } from '@temporalio/client';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createProgram } from '../../src/cli/main';
import { PlanError } from '../../src/plan/rollout-plan';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

interface CliRun {
  out: string;
  err: string;
  /** What `parseAsync` rejected with, if anything. */
  error: unknown;
  ms: number;
}

/**
 * Runs `rollout <args>` in-process and captures what it writes. Commander copies the output settings to a
 * subcommand when it is created (`createProgram` creates them all), so each subcommand is configured too.
 */
async function runCli(args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const output = { writeOut: (s: string) => out.push(s), writeErr: (s: string) => err.push(s) };
  const program = createProgram().exitOverride().configureOutput(output);
  for (const command of program.commands) command.exitOverride().configureOutput(output);
  const started = Date.now();
  let error: unknown;
  try {
    await program.parseAsync(['node', 'rollout', ...args]);
  } catch (e) {
    error = e;
  }
  return { out: out.join(''), err: err.join(''), error, ms: Date.now() - started };
}

/** Sets environment variables for the duration of `work`, then restores them exactly. */
async function withEnv<T>(vars: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    return await work();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

async function expectNoWorkflow(workflowId: string): Promise<void> {
  await expect(temporal.client.workflow.getHandle(workflowId).describe()).rejects.toBeInstanceOf(
    WorkflowNotFoundError,
  );
}

// The UI link the CLI prints, from the same configuration it reads (CI may run the stack on other ports).
const UI = `${(process.env.TEMPORAL_UI_URL ?? 'http://localhost:8233').replace(/\/$/, '')}/namespaces/default/workflows`;

let database: TestDatabase;
let temporal: TestTemporal;
let planDir: string;
let savedExitCode: typeof process.exitCode;
/** Workflows this file started that might still be running; terminated in afterAll. */
const toTerminate = new Set<string>();

beforeAll(async () => {
  planDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-cli-test-'));
  [database, temporal] = await Promise.all([createTestDatabase('rollout_cli'), connectTestTemporal('cli')]);
  await database.db
    .insertInto('runtime_config')
    .values([
      { key: 'maxTokens', value: '1000', value_type: 'number', user_id: null },
      { key: 'topP', value: '0.9', value_type: 'number', user_id: 'alice' },
    ])
    .execute();
});

afterAll(async () => {
  for (const workflowId of toTerminate) {
    await temporal.client.workflow
      .getHandle(workflowId)
      .terminate('rollout-cli.test cleanup')
      .catch(() => undefined); // already closed, or never started
  }
  await temporal?.close();
  await database?.drop();
  fs.rmSync(planDir, { recursive: true, force: true });
});

beforeEach(() => {
  savedExitCode = process.exitCode;
});

afterEach(() => {
  // `watch` sets exitCode 1 for a rollout that did not complete; never let that fail the jest run itself.
  process.exitCode = savedExitCode;
});

function writePlan(name: string, text: string): string {
  const file = path.join(planDir, name);
  fs.writeFileSync(file, text);
  return file;
}

function goodPlan(flag: string): string {
  return writePlan(
    `${flag}.yaml`,
    [
      `flag: ${flag}`,
      'unleash:',
      '  project: default',
      '  environment: development',
      'stages:',
      '  - percent: 10',
      '    soak: 1s',
      '  - percent: 50',
      '    soak: 1s',
      '  - percent: 100',
      '    soak: 0s',
      '',
    ].join('\n'),
  );
}

describe('rollout start: bad input is refused before anything starts', () => {
  it('an invalid plan file rejects with the PlanError and starts no workflow', async () => {
    const suffix = uniqueSuffix();
    const id = `r-bad-plan-${suffix}`;
    toTerminate.add(id);
    const file = writePlan(
      `bad-${suffix}.yaml`,
      [
        "flag: x'; drop table runtime_config; --",
        'unleash:',
        '  environment: development',
        'stages:',
        '  - percent: 50',
        '  - percent: 100',
        '    soak: 5 minutes',
        '',
      ].join('\n'),
    );
    const run = await runCli(['start', file, '--id', id]);
    expect(run.error).toBeInstanceOf(PlanError);
    const error = run.error as PlanError;
    expect(error.source).toBe(file);
    expect(error.message).toContain(file);
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^flag: /),
        expect.stringMatching(/^stages\[1\]\.soak: /),
      ]),
    );
    expect(run.out).toBe('');
    await expectNoWorkflow(id);
  });

  it('a missing plan file rejects with a PlanError and starts no workflow', async () => {
    const id = `r-missing-${uniqueSuffix()}`;
    toTerminate.add(id);
    const file = path.join(planDir, 'nope.yaml');
    const run = await runCli(['start', file, '--id', id]);
    expect(run.error).toBeInstanceOf(PlanError);
    expect((run.error as Error).message).toContain(file);
    await expectNoWorkflow(id);
  });

  it.each([['Bad_ID'], ['r-1; drop'], ['ab'], ['r'.padEnd(31, 'x')]])(
    'an invalid --id %j is an error before anything starts',
    async (id) => {
      toTerminate.add(id);
      const run = await runCli(['start', goodPlan(`cli-badid-${uniqueSuffix()}`), '--id', id]);
      expect(run.error).toBeInstanceOf(Error);
      expect((run.error as Error).message).toContain(`rollout id "${id}" must match`);
      expect(run.out).toBe('');
      await expectNoWorkflow(id);
    },
  );
});

describe('rollout status', () => {
  it('of an unknown id is a clear error', async () => {
    const id = `r-unknown-${uniqueSuffix()}`;
    const run = await runCli(['status', id]);
    expect(run.error).toBeInstanceOf(Error);
    expect((run.error as Error).message).toBe(`no rollout with id ${id}`);
    expect(run.out).toBe('');
  });

  it('of a rollout with no worker answers within ~10 s, says the status is unavailable, and still prints the audit log', async () => {
    const suffix = uniqueSuffix();
    const id = `r-noworker-${suffix}`;
    const flag = `cli-noworker-${suffix}`;
    toTerminate.add(id);
    await withEnv({ ROLLOUT_TASK_QUEUE: `no-worker-${suffix}`, DATABASE_URL: database.url }, async () => {
      const started = await runCli(['start', goodPlan(flag), '--id', id]);
      expect(started.error).toBeUndefined();
      expect(started.out).toContain(`started rollout ${id} of ${flag} in default/development`);
      expect(started.out).toContain('stages 10% → 50% → 100%');
      expect(started.out).toContain(`temporal ${UI}/${id}`);

      const human = await runCli(['status', id]);
      expect(human.error).toBeUndefined();
      expect(human.ms).toBeLessThan(10_000);
      expect(human.out).toContain(`rollout ${id}  [RUNNING]`);
      expect(human.out).toMatch(/status {6}unavailable: .*worker/);
      expect(human.out).toContain(`temporal    ${UI}/${id}`);
      expect(human.out).toContain('  audit log\n    (no decisions recorded yet)\n');

      const json = await runCli(['status', id, '--json']);
      expect(json.error).toBeUndefined();
      expect(json.ms).toBeLessThan(10_000);
      const view = JSON.parse(json.out) as Record<string, unknown>;
      expect(view).toMatchObject({
        rolloutId: id,
        execution: 'RUNNING',
        status: null,
        audit: [],
        url: `${UI}/${id}`,
      });
      expect(view.statusUnavailable).toEqual(expect.stringMatching(/worker/));
    });
    expect(process.env.ROLLOUT_TASK_QUEUE).not.toBe(`no-worker-${suffix}`);
  });
});

describe('a real rollout through the CLI', () => {
  const suffix = uniqueSuffix();
  const id = `r-${suffix}`;
  const flag = `cli-${suffix}`;
  let completed = false;

  it('start --watch follows it to completion and prints each stage, the final status and the UI link', async () => {
    toTerminate.add(id);
    const file = goodPlan(flag);
    const run = await withEnv({ ROLLOUT_TASK_QUEUE: temporal.taskQueue, DATABASE_URL: database.url }, () =>
      temporal.withWorker(database.db, () => runCli(['start', file, '--id', id, '--watch'])),
    );
    expect(run.error).toBeUndefined();
    // Later tests read this rollout; they only need it to have completed, whatever its output looked like.
    completed = (await temporal.client.workflow.getHandle(id).describe()).status.name === 'COMPLETED';
    expect(completed).toBe(true);
    expect(process.exitCode ?? 0).toBe(0);
    const out = run.out;
    expect(out).toContain(`started rollout ${id} of ${flag} in default/development`);
    expect(out).toContain(`temporal ${UI}/${id}`);
    // Each event once, in order.
    const lines = out.split('\n').filter((l) => /^\d{4}-\d\d-\d\dT/.test(l));
    const stageLines = lines.filter((l) => /\bstage_reached\b/.test(l));
    expect(stageLines).toEqual([
      expect.stringContaining('stage 1/3: Unleash confirms 10%'),
      expect.stringContaining('stage 2/3: Unleash confirms 50%'),
      expect.stringContaining('stage 3/3: Unleash confirms 100%'),
    ]);
    const eventKinds = lines
      .map((l) => /^\d{4}-\d\d-\d\dT\S+ {2}(\w+)/.exec(l)?.[1])
      .filter((k): k is string => k !== undefined);
    expect(eventKinds).toEqual([
      'started',
      'preflight_passed',
      'backup_verified',
      'backup_verified',
      'backup_verified',
      'keys_migrated',
      'templates_migrated',
      'models_seeded',
      'stage_reached',
      'stage_reached',
      'stage_reached',
      'completed',
    ]);
    // The final status block.
    expect(out).toContain(`rollout ${id}  [COMPLETED]`);
    expect(out).toMatch(/phase +complete +outcome completed +percent 100%/);
    expect(out).toContain('✓ 10% (soak 1s)  ✓ 50% (soak 1s)  ▶ 100%');
    expect(out).toMatch(
      new RegExp(`backup +runtime_config → backup_${id.replaceAll('-', '_')}__runtime_config: 2 rows`),
    );
    expect(out).toContain(`temporal    ${UI}/${id}`);
    expect(out.indexOf('[COMPLETED]')).toBeGreaterThan(out.lastIndexOf('stage 3/3'));
    // Unleash really is at 100 %.
    const readback = await temporal.unleash.readRollout({
      project: 'default',
      environment: 'development',
      flag,
    });
    expect(readback.percent).toBe(100);
  });

  it('status --json shows the completed outcome and the audit events in order', async () => {
    expect(completed).toBe(true);
    const run = await withEnv({ ROLLOUT_TASK_QUEUE: temporal.taskQueue, DATABASE_URL: database.url }, () =>
      temporal.withWorker(database.db, () => runCli(['status', id, '--json'])),
    );
    expect(run.error).toBeUndefined();
    const view = JSON.parse(run.out) as {
      rolloutId: string;
      execution: string;
      status: { outcome: string; percent: number; phase: string; stageIndex: number } | null;
      statusUnavailable: string | null;
      audit: { kind: string; actor: string; at: string; details: Record<string, unknown> }[];
      url: string;
    };
    expect(view).toMatchObject({
      rolloutId: id,
      execution: 'COMPLETED',
      statusUnavailable: null,
      url: `${UI}/${id}`,
    });
    expect(view.status).toMatchObject({
      outcome: 'completed',
      percent: 100,
      phase: 'complete',
      stageIndex: 2,
    });
    expect(view.audit.map((e) => e.kind)).toEqual([
      'started',
      'preflight_passed',
      'backup_verified',
      'backup_verified',
      'backup_verified',
      'keys_migrated',
      'templates_migrated',
      'models_seeded',
      'stage_reached',
      'stage_reached',
      'stage_reached',
      'completed',
    ]);
    expect(view.audit.filter((e) => e.kind === 'stage_reached').map((e) => e.details.percent)).toEqual([
      10, 50, 100,
    ]);
    expect(view.audit[0]!.actor).toBe(`${os.userInfo().username}@${os.hostname()}`);
    const times = view.audit.map((e) => Date.parse(e.at));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
  });

  // RolloutView.status is documented as "when a worker answered the query or the workflow completed":
  // a finished rollout's status is its result and needs no worker.
  it('status of the completed rollout still shows its outcome when no worker runs', async () => {
    expect(completed).toBe(true);
    const run = await withEnv({ DATABASE_URL: database.url }, () => runCli(['status', id, '--json']));
    expect(run.error).toBeUndefined();
    expect(run.ms).toBeLessThan(10_000);
    const view = JSON.parse(run.out) as {
      execution: string;
      status: { outcome: string } | null;
      statusUnavailable: string | null;
      audit: unknown[];
    };
    expect(view.execution).toBe('COMPLETED');
    expect(view.audit).toHaveLength(12);
    expect(view.status?.outcome).toBe('completed');
  });

  it('list --flag finds it (visibility is eventually consistent)', async () => {
    expect(completed).toBe(true);
    let rows: Record<string, unknown>[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const run = await runCli(['list', '--flag', flag, '--json']);
      expect(run.error).toBeUndefined();
      rows = JSON.parse(run.out) as Record<string, unknown>[];
      if (rows.length > 0 && rows[0]!.status === 'COMPLETED' && rows[0]!.percent === 100) break;
      await sleep(250);
    }
    expect(rows).toEqual([
      expect.objectContaining({ rolloutId: id, status: 'COMPLETED', flag, phase: 'complete', percent: 100 }),
    ]);

    const human = await runCli(['list', '--flag', flag]);
    expect(human.out).toMatch(new RegExp(`^${id} +COMPLETED +${flag} +complete +100%`));
    const none = await runCli(['list', '--flag', `cli-none-${uniqueSuffix()}`]);
    expect(none.out).toBe('no rollouts\n');
  });

  it('list refuses a flag that would change the visibility query', async () => {
    const run = await runCli(['list', '--flag', 'x" OR WorkflowType != "', '--json']);
    expect(run.error).toBeInstanceOf(Error);
    expect((run.error as Error).message).toBe('--flag is not a valid flag name');
    expect(run.out).toBe('');
  });

  // A rollout id names its backup tables and audit rows: starting it again (after it closed) would reuse the
  // first run's backups and have every decision deduplicated away, so `start` must refuse it.
  it('start refuses the id of a rollout that already ran', async () => {
    expect(completed).toBe(true);
    const run = await withEnv(
      { ROLLOUT_TASK_QUEUE: `no-worker-reuse-${suffix}`, DATABASE_URL: database.url },
      () => runCli(['start', goodPlan(`cli-reuse-${suffix}`), '--id', id]),
    );
    expect(run.error).toBeInstanceOf(Error);
    expect((run.error as Error).message).toBe(`rollout ${id} already exists`);
    const description = await temporal.client.workflow.getHandle(id).describe();
    expect(description.status.name).toBe('COMPLETED');
  });
});
