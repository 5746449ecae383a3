import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RolloutWorkflow } from '../../workflows/rollout-workflow';
import { cliProcess, killCliProcesses } from '../helpers/cli-process';
import { generateLegacyData } from '../helpers/config-fixtures';
import { tcpListenAddresses } from '../helpers/listening-sockets';
import { waitForStatus } from '../helpers/rollout-test-helpers';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

// The operator experience of the real `rollout` CLI process (issue 10): cancel with identity and reason,
// watch --timeout, the connection options and a data phase's batch progress.

/** A local TCP port nothing listens on (taken from the OS, then released). */
async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const OPERATOR = `${os.userInfo().username}@${os.hostname()}`;

let database: TestDatabase;
let temporal: TestTemporal;
let dir: string;
const toTerminate = new Set<string>();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-cli-operator-'));
  [database, temporal] = await Promise.all([
    createTestDatabase('rollout_cli_operator'),
    connectTestTemporal('cli-operator'),
  ]);
});

afterAll(async () => {
  killCliProcesses();
  for (const workflowId of toTerminate) {
    await temporal.client.workflow
      .getHandle(workflowId)
      .terminate('rollout-cli-operator.test cleanup')
      .catch(() => undefined); // already closed
  }
  await temporal?.close();
  await database?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** A ramp-only plan: no data phase, so these rollouts leave the test database alone. */
function rampOnlyPlan(flag: string, stages: string): string {
  return writeFile(
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

/** The WorkflowExecutionCancelRequested events of a workflow's history. */
async function cancelRequests(workflowId: string): Promise<{ identity: string; cause: string }[]> {
  const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? [])
    .map((event) => event.workflowExecutionCancelRequestedEventAttributes)
    .filter((attributes) => attributes !== null && attributes !== undefined)
    .map((attributes) => ({ identity: attributes.identity ?? '', cause: attributes.cause ?? '' }));
}

describe('rollout cancel', () => {
  it('records the operator and the reason in the history, and refuses a second request', async () => {
    const suffix = uniqueSuffix();
    const id = `r-cancel-nw-${suffix}`;
    toTerminate.add(id);
    // No worker polls this queue: the request is the server's business alone, and nothing rolls back yet.
    const env = { ROLLOUT_TASK_QUEUE: `no-worker-${suffix}`, DATABASE_URL: database.url };
    const started = await cliProcess(
      ['start', rampOnlyPlan(`cancel-nw-${suffix}`, '[{ percent: 100, soak: 0s }]'), '--id', id],
      env,
    ).exited;
    expect(started.code).toBe(0);

    const reason = 'release window closed (INC-4411)';
    const cancel = await cliProcess(['cancel', id, '--reason', reason], env).exited;
    expect({ code: cancel.code, stderr: cancel.stderr }).toEqual({ code: 0, stderr: '' });
    expect(cancel.stdout).toBe(
      `rollout ${id}: cancellation requested by ${OPERATOR}; it rolls back, then ends as cancelled ` +
        `(follow it with rollout watch ${id})\n`,
    );
    expect(await cancelRequests(id)).toEqual([{ identity: OPERATOR, cause: reason }]);

    const again = await cliProcess(['cancel', id, '--reason', 'second try'], env).exited;
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`rollout: rollout ${id}: its cancellation was already requested`);
    // Still one request, the first one.
    expect(await cancelRequests(id)).toEqual([{ identity: OPERATOR, cause: reason }]);

    const unknown = await cliProcess(['cancel', `r-nope-${suffix}`, '--reason', 'x'], env).exited;
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`rollout: no rollout with id r-nope-${suffix}`);
  });

  it('watch --timeout gives up with exit 4 while the rollout goes on; cancel rolls it back; an ended rollout is refused', async () => {
    const suffix = uniqueSuffix();
    const id = `r-cancel-${suffix}`;
    const flag = `cancel-${suffix}`;
    toTerminate.add(id);
    const env = { ROLLOUT_TASK_QUEUE: temporal.taskQueue, DATABASE_URL: database.url };
    await temporal.withWorker(database.db, async () => {
      const started = await cliProcess(
        ['start', rampOnlyPlan(flag, '[{ percent: 10, soak: 10m }, { percent: 100, soak: 0s }]'), '--id', id],
        env,
      ).exited;
      expect(started.code).toBe(0);
      const handle = temporal.client.workflow.getHandle<typeof RolloutWorkflow>(id);
      await waitForStatus(handle, (s) => s.stageIndex === 0 && s.soakEndsAt !== null, 'the 10 % soak');

      const watch = await cliProcess(['watch', id, '--timeout', '3s'], env).exited;
      console.log(`watch --timeout 3s exited ${watch.code} after ${watch.ms} ms`);
      expect(watch.code).toBe(4);
      expect(watch.stderr).toContain(
        `rollout: gave up watching rollout ${id} after 3s (--timeout): it is still running (phase ramp, 10%) ` +
          `and goes on without the watch; follow it again with rollout watch ${id}`,
      );
      expect(watch.stdout).toMatch(/stage_reached +stage 1\/2: Unleash confirms 10%/);
      // It gave up on the watch, not the rollout, and not before the time ran out.
      expect(watch.ms).toBeGreaterThanOrEqual(3_000);
      expect((await handle.describe()).status.name).toBe('RUNNING');

      const reason = 'error budget spent elsewhere';
      const cancel = await cliProcess(['cancel', id, '--reason', reason], env).exited;
      expect(cancel.code).toBe(0);
      expect(await cancelRequests(id)).toEqual([{ identity: OPERATOR, cause: reason }]);
      // The workflow answers with a rollback, then ends.
      await expect(handle.result()).rejects.toThrow();
      const status = await cliProcess(['status', id], env).exited;
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/outcome cancelled +percent 0%/);
      // The canceller as the server recorded the request (the CLI's user@host) and the reason it sent.
      expect(status.stdout).toMatch(
        / {2}rollback cause cancelled by \S+@\S+: error budget spent elsewhere\n/,
      );
      expect(status.stdout).toMatch(/operator_cancel +by \S+@\S+\n/);
      expect(status.stdout).toContain('✗ 10% (soak 10m)  · 100%');

      const ended = await cliProcess(['cancel', id, '--reason', 'too late'], env).exited;
      expect(ended.code).toBe(1);
      expect(ended.stderr).toMatch(
        new RegExp(
          `rollout: rollout ${id} has already ended \\((FAILED|CANCELLED)\\); there is nothing to cancel`,
        ),
      );
    });
  }, 300_000);
});

describe('connection options: flag > --env-file > environment > default', () => {
  it('--address and an --env-file TEMPORAL_ADDRESS win over the environment, and --address over the file', async () => {
    const port = await unusedPort();
    expect(tcpListenAddresses(port)).toEqual([]);
    const nowhere = `127.0.0.1:${port}`;
    const good = temporal.env.TEMPORAL_ADDRESS;
    const env = { TEMPORAL_ADDRESS: good, DATABASE_URL: database.url };

    const flag = await cliProcess(['list', '--address', nowhere], env).exited;
    expect(flag.code).toBe(3);
    expect(flag.stderr).toContain(`rollout: cannot reach Temporal at ${nowhere}`);
    // After the command, as the Temporal CLI takes it, and before it.
    const before = await cliProcess(['--address', nowhere, 'list'], env).exited;
    expect(before.code).toBe(3);
    expect(before.stderr).toContain(`cannot reach Temporal at ${nowhere}`);

    const file = writeFile(`nowhere-${port}.env`, `# staging\nTEMPORAL_ADDRESS=${nowhere}\n`);
    const fromFile = await cliProcess(['list', '--env-file', file], env).exited;
    expect(fromFile.code).toBe(3);
    expect(fromFile.stderr).toContain(`cannot reach Temporal at ${nowhere}`);

    const flagOverFile = await cliProcess(
      ['list', '--env-file', file, '--address', good, '--limit', '1'],
      env,
    ).exited;
    expect({ code: flagOverFile.code, stderr: flagOverFile.stderr }).toEqual({ code: 0, stderr: '' });

    // Through the wrapper operators use.
    const missing = await cliProcess(['list', '--env-file', path.join(dir, 'missing.env')], env, {
      wrapper: true,
    }).exited;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`rollout: cannot read --env-file ${path.join(dir, 'missing.env')}`);
    const bad = await cliProcess(['list', '--address', 'no-port'], env).exited;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--address must be host:port');
  });

  it('--namespace and an --env-file TEMPORAL_NAMESPACE reach Temporal, the flag first', async () => {
    const id = `r-nowhere-${uniqueSuffix()}`;
    const env = { TEMPORAL_NAMESPACE: 'default', DATABASE_URL: database.url };
    const notFound = `rollout: Namespace not found: 'no-such-ns-${process.pid}'`;

    const flag = await cliProcess(['status', id, '--namespace', `no-such-ns-${process.pid}`], env).exited;
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain(notFound);

    const file = writeFile('namespace.env', `TEMPORAL_NAMESPACE=no-such-ns-${process.pid}\n`);
    const fromFile = await cliProcess(['status', id, '--env-file', file], env).exited;
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toContain(notFound);

    // The namespace exists: Temporal looks the rollout up there and does not know it.
    const flagOverFile = await cliProcess(['status', id, '--env-file', file, '--namespace', 'default'], env)
      .exited;
    expect(flagOverFile.code).toBe(2);
    expect(flagOverFile.stderr).toContain(`rollout: no rollout with id ${id}`);
  });
});

describe('batch progress of a data phase', () => {
  const ROWS = 200_000;

  beforeAll(async () => {
    await generateLegacyData(database.db, { rows: ROWS, skipTriggers: true });
  }, 120_000);

  it('start --watch prints plain progress lines (rows by id, total, rate, ETA) while the key migration runs', async () => {
    const suffix = uniqueSuffix();
    const id = `r-progress-${suffix}`;
    toTerminate.add(id);
    const plan = writeFile(
      `progress-${suffix}.yaml`,
      [
        `flag: progress-${suffix}`,
        'unleash: { environment: development }',
        'backup: { tables: [runtime_config] }',
        'phases: { migrateKeys: true, migrateTemplates: false, seedModels: false }',
        'stages: [{ percent: 100, soak: 0s }]',
        '',
      ].join('\n'),
    );
    const env = { ROLLOUT_TASK_QUEUE: temporal.taskQueue, DATABASE_URL: database.url };
    const run = await temporal.withWorker(
      database.db,
      () => cliProcess(['start', plan, '--id', id, '--watch', '--progress-every', '1s'], env).exited,
    );
    const lines = run.stderr.split('\n').filter((line) => / progress +key migration/.test(line));
    const migrated = /keys_migrated +(.*)/.exec(run.stdout)?.[1];
    console.log(
      `key migration of ${ROWS} rows watched in ${run.ms} ms (whole rollout); ${lines.length} progress lines:\n` +
        `${lines.join('\n')}\nkeys_migrated: ${migrated}`,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`rollout ${id}  [COMPLETED]`);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const rename = lines.filter((line) => line.includes('key migration (rename): '));
    expect(rename.length).toBeGreaterThanOrEqual(1);
    for (const line of rename) {
      expect(line).toMatch(
        /^\d{4}-\d\d-\d\dT\S+Z {2}progress {11}key migration \(rename\): [\d,]+\/[\d,]+ ids \(\d+%\) · (—|[\d,]+ ids\/s) · ETA (—|\d+s|\d+m \d\ds) · renamed [\d,]+, discarded [\d,]+, batches [\d,]+/,
      );
      // The total is runtime_config's highest id when the CLI looked: 200,000, or a little less once the
      // dedupe (which the last heartbeat may not have reported yet) has discarded the last rows.
      const total = Number(/\/([\d,]+) ids/.exec(line)![1]!.replaceAll(',', ''));
      expect(total).toBeGreaterThan(ROWS * 0.9);
      expect(total).toBeLessThanOrEqual(ROWS);
    }
    // Two samples of the sweep a second apart give a pace and a time left (a sweep over in under a second on
    // a fast machine shows one line, without them).
    for (const line of rename.slice(1)) expect(line).toMatch(/ · [\d,]+ ids\/s · ETA (\d+s|\d+m \d\ds) · /);
    // Lines are spaced by --progress-every.
    const times = lines.map((line) => Date.parse(line.slice(0, 24)));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1_000);
    // Progress is on stderr: stdout stays events and the final status.
    expect(run.stdout).not.toMatch(/ progress /);
  }, 180_000);
});
