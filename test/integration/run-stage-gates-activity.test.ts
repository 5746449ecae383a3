import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { listAuditEvents } from '../../db/audit-events';
import { claimRun } from '../../db/rollout-runs';
import {
  runStageGates,
  type RunStageGatesInput,
  type StageGatesResult,
} from '../../activities/gates/run-stage-gates-activity';
import { gateDefinitionSchema } from '../../src/gates/gate-definition';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { uniqueSuffix } from '../helpers/test-temporal';

/**
 * The gated soak's activity against a real Postgres audit log and a real HTTP endpoint whose status the test
 * sets: a healthy soak passes, a failing endpoint fails the gate at its failure limit, a retried attempt
 * resumes from its heartbeat without duplicating audit rows, and cancellation stops it between measurements.
 */

let database: TestDatabase;
let server: http.Server;
let url: string;
let status = 200;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  database = await createTestDatabase('stage_gates');
  server = http.createServer((_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await database?.drop();
});

async function newRollout(): Promise<string> {
  const rolloutId = `r-gates-${uniqueSuffix()}`;
  await claimRun(database.db, {
    rolloutId,
    workflowId: rolloutId,
    flag: `f-${rolloutId}`,
    project: 'default',
    environment: 'development',
    plan: {},
  });
  return rolloutId;
}

function input(rolloutId: string, soakMs: number, failureLimit = 2): RunStageGatesInput {
  return {
    rolloutId,
    stage: 0,
    percent: 10,
    round: 0,
    gates: [
      {
        name: 'health',
        definition: gateDefinitionSchema.parse({ provider: 'http', url, interval: '1s', failureLimit }),
      },
    ],
    soakEndsAtMs: Date.now() + soakMs,
  };
}

test('a healthy soak passes after measuring every interval; each measurement is one audit row', async () => {
  status = 200;
  const rolloutId = await newRollout();
  const env = new MockActivityEnvironment();
  const result = (await env.run(
    runStageGates,
    { db: database.db, logger },
    input(rolloutId, 2_500),
  )) as StageGatesResult;
  expect(result.outcome).toBe('passed');
  const rows = (await listAuditEvents(database.db, rolloutId)).filter((e) => e.kind === 'gate_measurement');
  expect(rows.length).toBe(result.gates[0]!.measured);
  expect(rows.length).toBeGreaterThanOrEqual(3);
  expect(rows.every((e) => e.actor === 'gate:health' && e.details.verdict === 'pass')).toBe(true);
  expect(result.gates[0]!.last.length).toBeLessThanOrEqual(3);
});

test('a failing endpoint fails the gate at its failure limit, during the soak', async () => {
  status = 500;
  const rolloutId = await newRollout();
  const env = new MockActivityEnvironment();
  const started = Date.now();
  const result = await env.run(runStageGates, { db: database.db, logger }, input(rolloutId, 60_000));
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(result).toMatchObject({ outcome: 'failed', gate: 'health', onFailure: 'rollback' });
  const failed = result as Extract<StageGatesResult, { outcome: 'failed' }>;
  const rows = (await listAuditEvents(database.db, rolloutId)).filter((e) => e.kind === 'gate_measurement');
  expect(rows.map((e) => e.details.verdict)).toEqual(['fail', 'fail']);
  expect(rows.at(-1)!.dedupe_key).toBe(failed.auditKey);
});

test('a retried attempt resumes from the heartbeat: counts go on, no audit row is written twice', async () => {
  status = 500;
  const rolloutId = await newRollout();
  const first = new MockActivityEnvironment();
  let details: unknown;
  first.on('heartbeat', (d: unknown) => (details = d));
  const stage = input(rolloutId, 60_000, 3);
  // The first attempt measures twice (one fail short of the limit), then its worker "dies" (cancelled).
  const run = first.run(runStageGates, { db: database.db, logger }, stage);
  for (let i = 0; i < 100 && (details as { gates?: { sequence: number }[] })?.gates?.[0]?.sequence !== 2; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  first.cancel();
  await expect(run).rejects.toBeInstanceOf(CancelledFailure);

  const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: details });
  const result = await retry.run(runStageGates, { db: database.db, logger }, stage);
  // The third failure overall reaches the limit: the retry measured once more, not three times.
  expect(result).toMatchObject({ outcome: 'failed', gate: 'health' });
  expect((result as Extract<StageGatesResult, { outcome: 'failed' }>).gates[0]!.failures).toBe(3);
  const rows = (await listAuditEvents(database.db, rolloutId)).filter((e) => e.kind === 'gate_measurement');
  expect(rows.map((e) => e.dedupe_key)).toEqual([
    'gate-s1-r0-health#0',
    'gate-s1-r0-health#1',
    'gate-s1-r0-health#2',
  ]);
});

test('cancellation stops the soak between measurements', async () => {
  status = 200;
  const rolloutId = await newRollout();
  const env = new MockActivityEnvironment();
  const run = env.run(runStageGates, { db: database.db, logger }, input(rolloutId, 60_000));
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const cancelledAt = Date.now();
  env.cancel();
  await expect(run).rejects.toBeInstanceOf(CancelledFailure);
  expect(Date.now() - cancelledAt).toBeLessThan(2_000);
});
