import { Client, Connection } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import { setConfig } from '../../db/runtime-config-queries';
import type { AuditEventRow } from '../../db/schema';
import { readEnv, type Env } from '../../src/config/env';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { ROLLOUT_PAYLOAD_CONVERTER_PATH } from '../../src/worker/create-rollout-worker';
import { RolloutWorkflow, statusQuery } from '../../workflows';
import type { RolloutStatus } from '../../workflows/rollout-status';
import {
  acceptsConnections,
  processExists,
  startOwnTemporal,
  type OwnTemporal,
} from '../helpers/own-temporal';
import { flagPercent } from '../helpers/rollout-test-helpers';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { startServiceUnderLoad, type ServiceUnderLoad } from '../helpers/service-under-load';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { uniqueSuffix } from '../helpers/test-temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';
import { UnleashAdminClient } from '../../src/unleash/unleash-admin-client';

/**
 * Issue 9, must-show 6: the Temporal server restarted in the middle of a gated soak. A Temporal dev server of
 * this test's own (own port, own SQLite file; the shared one is never touched) runs the rollout with a real
 * worker process; the config service is under load and the `compare` and `http` gates measure every second.
 * The server is killed (SIGKILL: the process is gone and its port refuses connections), started again on the
 * same database file, and the rollout goes on where it was: same run, stage 1 reached once, gates measuring
 * before, during and after the outage, then it completes.
 */

let env: Env;
let database: TestDatabase;
let temporal: OwnTemporal;
let worker: WorkerProcess | undefined;
let service: ServiceUnderLoad | undefined;
let flag: string;
const connections: Connection[] = [];

beforeAll(async () => {
  env = readEnv();
  database = await createTestDatabase('temporal_restart');
  await setConfig(database.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
  temporal = await startOwnTemporal();
}, 120_000);

afterAll(async () => {
  await worker?.kill().catch(() => undefined);
  await service?.close();
  for (const connection of connections) await connection.close().catch(() => undefined);
  await temporal?.dispose();
  if (flag) await archiveFlag(env, flag);
  await database?.drop();
});

async function connect(): Promise<Client> {
  const connection = await Connection.connect({ address: temporal.address, connectTimeout: 10_000 });
  connections.push(connection);
  return new Client({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    dataConverter: { payloadConverterPath: ROLLOUT_PAYLOAD_CONVERTER_PATH },
  });
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const measurementsOf = (audit: AuditEventRow[], gate: string) =>
  audit.filter((e) => e.kind === 'gate_measurement' && e.details.gate === gate && e.details.stage === 1);

test('the Temporal server killed and restarted mid-soak: the rollout continues where it was, the gates keep measuring, and it completes', async () => {
  flag = uniqueFlagName('temporal-restart');
  await setFlagPercent(env, flag, 0);
  service = await startServiceUnderLoad({ databaseUrl: database.url, flag, load: true });
  const taskQueue = `restart-${uniqueSuffix()}`;
  worker = await startWorkerProcess({
    taskQueue,
    databaseUrl: database.url,
    env: { TEMPORAL_ADDRESS: temporal.address },
  });

  const client = await connect();
  const rolloutId = `r-restart-${uniqueSuffix()}`;
  const handle = await client.workflow.start(RolloutWorkflow, {
    workflowId: rolloutId,
    taskQueue,
    args: [
      {
        rolloutId,
        plan: {
          flag,
          unleash: { project: 'default', environment: 'development' },
          phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
          stages: [
            { percent: 10, soak: '40s', gates: ['compare', 'health'] },
            { percent: 100, soak: '0s' },
          ],
          gates: {
            compare: {
              provider: 'compare',
              endpoint: `${service.harness.url}/metrics`,
              interval: '1s',
              minSample: 5,
              inconclusiveLimit: '30s',
            },
            health: { provider: 'http', url: `${service.harness.url}/readyz`, interval: '1s' },
          },
        },
        requestedBy: 'jest@test',
      },
    ],
    typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
  });
  const { runId } = await handle.describe();

  // Soaking at 10 % with both gates measured a few times.
  const soaking = await until<RolloutStatus>(async () => {
    const status = await handle.query(statusQuery);
    if (status.stageIndex !== 0 || status.soakEndsAt === null) return undefined;
    const audit = await listAuditEvents(database.db, rolloutId);
    return measurementsOf(audit, 'compare').length >= 3 && measurementsOf(audit, 'health').length >= 3
      ? status
      : undefined;
  }, 'stage 1 soaking with measurements');
  expect(soaking).toMatchObject({ percent: 10, outcome: 'running', phase: 'ramp' });

  // The crash: the server process is gone and its port refuses connections.
  const killedPid = await temporal.kill();
  const killedAt = new Date();
  expect(processExists(killedPid)).toBe(false);
  const [host, port] = temporal.address.split(':');
  expect(await acceptsConnections(host!, Number(port))).toBe(false);
  await expect(
    Connection.connect({ address: temporal.address, connectTimeout: 1_000 }).then(async (c) => {
      try {
        await c.withDeadline(Date.now() + 1_000, () => c.workflowService.getSystemInfo({}));
      } finally {
        await c.close();
      }
    }),
  ).rejects.toThrow();
  // Down for a few seconds; the worker keeps running, its gate activity keeps measuring.
  await sleep(4_000);
  expect(await acceptsConnections(host!, Number(port))).toBe(false);
  expect(processExists(worker.pid)).toBe(true);

  await temporal.start();
  const restartedAt = new Date();
  const after = await connect();
  const resumed = after.workflow.getHandle<typeof RolloutWorkflow>(rolloutId);
  const result = await resumed.result();
  expect(result).toMatchObject({ outcome: 'completed', percent: 100, stageIndex: 1 });
  expect(result.gates).toMatchObject({ stage: 1, outcome: 'passed' });
  // Same run: it was not started over (nor continued as new).
  expect((await resumed.describe()).runId).toBe(runId);
  expect(result.continuedAsNew).toBe(0);
  const unleash = new UnleashAdminClient({ url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN });
  expect(await flagPercent(unleash, flag)).toBe(100);

  const audit = await listAuditEvents(database.db, rolloutId);
  const kinds = audit.map((e) => e.kind);
  expect(kinds.filter((k) => k === 'started')).toHaveLength(1);
  // Stage 1 was reached once, before the crash; the soak went on from there.
  const reached = audit.filter((e) => e.kind === 'stage_reached');
  expect(reached.map((e) => e.details.stage)).toEqual([1, 2]);
  expect(reached[0]!.at.getTime()).toBeLessThan(killedAt.getTime());
  expect(reached[1]!.at.getTime()).toBeGreaterThan(restartedAt.getTime());
  for (const gate of ['compare', 'health']) {
    const rows = measurementsOf(audit, gate);
    const before = rows.filter((e) => e.at < killedAt);
    const afterRestart = rows.filter((e) => e.at > restartedAt);
    process.stdout.write(
      `${gate}: ${before.length} measurements before the kill, ${rows.length - before.length - afterRestart.length} while the server was down or starting, ${afterRestart.length} after the restart\n`,
    );
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(afterRestart.length).toBeGreaterThanOrEqual(3);
    expect(afterRestart.at(-1)!.details).toMatchObject({ verdict: 'pass' });
    expect(rows.every((e) => e.details.verdict !== 'fail')).toBe(true);
    // Each measurement once: a resumed or retried gate activity never rewrites an audit key.
    expect(new Set(rows.map((e) => e.dedupe_key)).size).toBe(rows.length);
  }
  expect(kinds.filter((k) => k === 'gates_passed')).toHaveLength(1);
  expect(kinds.at(-1)).toBe('completed');

  await worker.stop();
  worker = undefined;
}, 170_000);
