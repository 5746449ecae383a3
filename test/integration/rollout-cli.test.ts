import { ROLLOUT_OUTCOME } from '../../src/temporal/search-attributes';
import { WorkflowNotFoundError } from '@temporalio/client';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import packageJson from '../../package.json';
import { createProgram } from '../../src/cli/main';
import { projectRoot } from '../../src/config/load-dotenv';
import { PlanError } from '../../src/plan/rollout-plan';
import type { RolloutWorkflow } from '../../workflows/rollout-workflow';
import { tcpListenAddresses } from '../helpers/listening-sockets';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { waitForStatus } from '../helpers/rollout-test-helpers';

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

interface CliProcess {
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr matches, or rejects with everything printed when it exits or `withinMs` passes. */
  waitForStderr(pattern: RegExp, withinMs: number): Promise<void>;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  kill(): void;
}

/**
 * The real `rollout` CLI as a child process (node with tsx as an import hook, so a kill reaches the CLI
 * itself), with the given environment on top of this one. Exit codes only exist across a process boundary.
 */
function cliProcess(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(projectRoot, 'src/cli/main.ts'), ...args],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStderr: (pattern, withinMs) =>
      new Promise<void>((resolve, reject) => {
        const fail = (why: string) => {
          cleanup();
          reject(
            new Error(
              `rollout ${args.join(' ')}: ${why} before stderr matched ${pattern}:\n${stdout}\n${stderr}`,
            ),
          );
        };
        const timer = setTimeout(() => fail(`${withinMs} ms passed`), withinMs);
        const check = () => {
          if (!pattern.test(stderr)) return;
          cleanup();
          resolve();
        };
        const onExit = (code: number | null) => fail(`it exited with ${code}`);
        const cleanup = () => {
          clearTimeout(timer);
          child.stderr.off('data', check);
          child.off('exit', onExit);
        };
        child.stderr.on('data', check);
        child.once('exit', onExit);
        check();
      }),
    exited,
    kill: () => child.kill('SIGTERM'),
  };
}

/** A local TCP port nothing listens on (taken from the OS, then released). */
async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
/** CLI processes still running (a failed test may leave one); killed in afterAll. */
const children = new Set<ReturnType<typeof spawn>>();

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
  for (const child of children) child.kill('SIGKILL');
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

/** A ramp-only plan (no data phase), so these rollouts leave the test database to the other tests. */
function rampOnlyPlan(flag: string, stages: string): string {
  return writePlan(
    `${flag}.yaml`,
    [
      `flag: ${flag}`,
      'unleash: { environment: development }',
      'backup: { tables: [] }',
      'phases: { migrateKeys: false, migrateTemplates: false, seedModels: false }',
      `stages: ${stages}`,
      '',
    ].join('\n'),
  );
}

describe('exit codes of the real CLI process', () => {
  it('--version prints the package version and exits 0', async () => {
    const run = await cliProcess(['--version']).exited;
    expect(run).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: '' });
  });

  it('--help documents the exit codes', async () => {
    const run = await cliProcess(['--help']).exited;
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /Exit codes:\n {2}0 {2}done.*\n {2}1 {2}the rollout failed.*\n {2}2 {2}bad usage.*\n {2}3 {2}a service/,
    );
  });

  it.each([
    [['status'], /missing required argument 'rolloutId'/],
    [['watch', 'r-x', '--bogus'], /unknown option '--bogus'/],
    [['rollout-everything'], /unknown command 'rollout-everything'/],
    [['list', '--limit', '0'], /--limit must be a whole number/],
  ])('a usage error %j exits 2', async (args, message) => {
    const run = await cliProcess(args).exited;
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  it('a bad plan (duplicate key, bare-number soak) exits 2 and starts nothing', async () => {
    const id = `r-exit2-${uniqueSuffix()}`;
    toTerminate.add(id);
    const duplicate = writePlan(
      `dup-${id}.json`,
      '{\n  "flag": "exit-two",\n  "unleash": { "environment": "development" },\n  "flag": "other"\n}\n',
    );
    const bare = writePlan(
      `bare-${id}.yaml`,
      'flag: exit-two\nunleash: { environment: development }\nstages: [{ percent: 100, soak: 30 }]\n',
    );
    const dupRun = await cliProcess(['start', duplicate, '--id', id], { DATABASE_URL: database.url }).exited;
    expect(dupRun.code).toBe(2);
    expect(dupRun.stderr).toContain(`invalid rollout plan ${duplicate}:`);
    expect(dupRun.stderr).toContain('duplicate key "flag" at line 4, column 3 (first at line 2, column 3)');
    const bareRun = await cliProcess(['plan', bare], { DATABASE_URL: database.url }).exited;
    expect(bareRun.code).toBe(2);
    expect(bareRun.stderr).toContain(
      'stages[0].soak: soak must be a duration such as 30s, 5m or 1h; a bare number has no unit',
    );
    const badId = await cliProcess(['start', goodPlan(`cli-exit2-${uniqueSuffix()}`), '--id', 'Bad_ID'])
      .exited;
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('rollout id "Bad_ID" must match');
    await expectNoWorkflow(id);
    await expectNoWorkflow('Bad_ID');
  });

  it('an unknown rollout id exits 2 for status, watch and an operator command', async () => {
    const id = `r-unknown-${uniqueSuffix()}`;
    for (const args of [
      ['status', id],
      ['watch', id],
      ['pause', id],
    ]) {
      const run = await cliProcess(args).exited;
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toContain(`rollout: no rollout with id ${id}`);
    }
  });

  it('with Temporal unreachable, exits 3 and names it', async () => {
    const port = await unusedPort();
    // The fault is real: nothing listens there.
    expect(tcpListenAddresses(port)).toEqual([]);
    const address = `127.0.0.1:${port}`;
    for (const args of [['status', 'r-any-id'], ['list']]) {
      const run = await cliProcess(args, { TEMPORAL_ADDRESS: address }).exited;
      expect({ args, code: run.code }).toEqual({ args, code: 3 });
      expect(run.stderr).toContain(`rollout: cannot reach Temporal at ${address}`);
    }
  });

  it('rollout plan exits 3 with Postgres unreachable and with Unleash unreachable', async () => {
    const file = rampOnlyPlan(`cli-exit3-${uniqueSuffix()}`, '[{ percent: 100, soak: 0s }]');
    const pgPort = await unusedPort();
    expect(tcpListenAddresses(pgPort)).toEqual([]);
    const noPostgres = await cliProcess(['plan', file], {
      DATABASE_URL: `postgres://root@127.0.0.1:${pgPort}/nowhere`,
    }).exited;
    expect(noPostgres.code).toBe(3);
    expect(noPostgres.stderr).toContain(`ECONNREFUSED 127.0.0.1:${pgPort}`);

    const unleashPort = await unusedPort();
    expect(tcpListenAddresses(unleashPort)).toEqual([]);
    const noUnleash = await cliProcess(['plan', file], {
      DATABASE_URL: database.url,
      UNLEASH_URL: `http://127.0.0.1:${unleashPort}`,
    }).exited;
    expect(noUnleash.code).toBe(3);
    expect(noUnleash.stderr).toContain(`rollout: cannot reach Unleash at http://127.0.0.1:${unleashPort}`);
    expect(noUnleash.stdout).toBe('');
  });

  it('a refused operator request exits 1, a rollback exits 0, and watching the rolled-back rollout exits 1', async () => {
    const suffix = uniqueSuffix();
    const id = `r-rolledback-${suffix}`;
    toTerminate.add(id);
    const env = { ROLLOUT_TASK_QUEUE: temporal.taskQueue, DATABASE_URL: database.url };
    const file = rampOnlyPlan(
      `cli-rolledback-${suffix}`,
      '[{ percent: 10, soak: 10m }, { percent: 100, soak: 0s }]',
    );
    await temporal.withWorker(database.db, async () => {
      const started = await cliProcess(['start', file, '--id', id], env).exited;
      expect(started.code).toBe(0);
      const handle = temporal.client.workflow.getHandle<typeof RolloutWorkflow>(id);
      await waitForStatus(handle, (s) => s.stageIndex === 0 && s.soakEndsAt !== null, 'the 10 % soak');

      const watch = cliProcess(['watch', id], env);
      const resume = await cliProcess(['resume', id], env).exited;
      expect(resume.code).toBe(1);
      expect(resume.stderr).toContain(`rollout: rollout ${id}: cannot resume: the rollout is not paused`);

      const rollback = await cliProcess(['rollback', id, '--reason', 'exit code test'], env).exited;
      expect(rollback.code).toBe(0);

      const watched = await watch.exited;
      expect(watched.code).toBe(1);
      expect(watched.stdout).toMatch(/outcome rolled_back/);
      // A worker polled all along: no false alarm.
      expect(watched.stderr).not.toMatch(/no worker polls/);
    });
  });
});

describe('watch without a worker', () => {
  let second: TestTemporal;

  beforeAll(async () => {
    // A task queue of its own that no worker of this file has ever polled.
    second = await connectTestTemporal('cli-noworker');
  });

  afterAll(async () => {
    await second?.close();
  });

  it('warns that no worker polls the task queue, says when one appears, and exits 0 when the rollout completes', async () => {
    const suffix = uniqueSuffix();
    const id = `r-nopoller-${suffix}`;
    toTerminate.add(id);
    const env = { ROLLOUT_TASK_QUEUE: second.taskQueue, DATABASE_URL: database.url };
    // A soak long enough for the watch to see the worker before the rollout ends.
    const file = rampOnlyPlan(
      `cli-nopoller-${suffix}`,
      '[{ percent: 10, soak: 20s }, { percent: 100, soak: 0s }]',
    );
    const started = await cliProcess(['start', file, '--id', id], env).exited;
    expect(started.code).toBe(0);

    const watch = cliProcess(['watch', id], env);
    try {
      await watch.waitForStderr(
        new RegExp(`warning: no worker polls task queue ${second.taskQueue} for workflow or activity tasks`),
        15_000,
      );
      // Nothing ran: the rollout is still where it was started.
      const description = await second.client.workflow.getHandle(id).describe();
      expect(description.status.name).toBe('RUNNING');
      expect(watch.stdout()).toBe('');

      await second.withWorker(database.db, async () => {
        await watch.waitForStderr(new RegExp(`a worker now polls task queue ${second.taskQueue}`), 60_000);
        const watched = await watch.exited;
        expect(watched.code).toBe(0);
        expect(watched.stdout).toContain(`rollout ${id}  [COMPLETED]`);
      });
    } finally {
      watch.kill();
    }
  });
});

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
    const description = await temporal.client.workflow.getHandle(id).describe();
    completed = description.status.name === 'COMPLETED';
    expect(completed).toBe(true);
    // What the UI's list and header show: the plan in one line, and the outcome as a search attribute.
    expect(await description.staticSummary()).toBe(`${flag} in default/development: 10% → 50% → 100%`);
    expect(await description.staticDetails()).toMatch(/^started by \S+; find it with RolloutFlag = "cli-/);
    expect(description.typedSearchAttributes.get(ROLLOUT_OUTCOME)).toBe('completed');
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
    expect(out).toContain('✓ 10% (soak 1s)  ✓ 50% (soak 1s)  ✓ 100%');
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
