import { Client, Connection } from '@temporalio/client';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { normalizedStrategyValue } from 'unleash-client/lib/strategy/util';
import { listAuditEvents } from '../../db/audit-events';
import { setConfig } from '../../db/runtime-config-queries';
import { newRolloutId } from '../../src/cli/new-rollout-id';
import { readEnv } from '../../src/config/env';
import { startDemoTraffic, type DemoTraffic } from '../../src/demo/demo-traffic';
import { createUnifiedConfigFlag, type UnifiedConfigFlag } from '../../src/flags/unified-config-flag';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { UnleashAdminClient } from '../../src/unleash/unleash-admin-client';
import { RolloutWorkflow } from '../../workflows';
import type { RolloutStatus } from '../../workflows/rollout-status';
import { waitForStatus } from '../helpers/rollout-test-helpers';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process';
import { TEST_TOKENS } from '../helpers/service-tokens';
import { archiveFlag, flagTarget, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { uniqueSuffix } from '../helpers/test-temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

/** Repetitions; `BENCH_RUNS` overrides (issue 9 asks for at least 10). */
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
/** Standalone flag clients besides the service's own, as in the flag-propagation bench. */
const CLIENTS = 20;
const REFRESH_INTERVAL_MS = 1_000;
const FAULT_RATE = 0.2;
const LOAD_PER_SECOND = 200;
const LOAD_USERS = 5_000;
/** Users whose decision the clients are sampled for; the ones on at 50 % must all turn off. */
const WITNESSES = 40;
/** The service's routing counts as off once the load got no unified answer for this long. */
const QUIET_MS = 3_000;
const RUN_TIMEOUT_MS = 60_000;
const SAMPLE_MS = 5;
/** Issue 9: first failing response → every client evaluating off, p99 ≤ 5,000 ms. */
const TARGET_MS = 5_000;

function log(line: string): void {
  process.stderr.write(`[rollback-time bench] ${line}\n`);
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/**
 * Polls the standalone clients every SAMPLE_MS from `since` until each evaluates every witness as off; the
 * epoch ms at which each did.
 */
async function clientsOff(
  clients: readonly UnifiedConfigFlag[],
  witnesses: readonly string[],
  deadline: number,
): Promise<number[]> {
  const offAt = new Array<number | undefined>(clients.length).fill(undefined);
  while (offAt.some((at) => at === undefined)) {
    const now = Date.now();
    if (now > deadline) {
      throw new Error(`${offAt.filter((at) => at === undefined).length} flag clients still evaluate on`);
    }
    clients.forEach((client, index) => {
      if (offAt[index] === undefined && witnesses.every((user) => !client.isEnabledFor(user)))
        offAt[index] = now;
    });
    await sleep(SAMPLE_MS);
  }
  return offAt as number[];
}

/** Waits until every standalone client evaluates every witness on, and the service served unified since `since`. */
async function everyoneOn(
  clients: readonly UnifiedConfigFlag[],
  witnesses: readonly string[],
  traffic: DemoTraffic,
  since: number,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (
    !clients.every((client) => witnesses.every((user) => client.isEnabledFor(user))) ||
    (traffic.lastUnifiedAt() ?? 0) <= since
  ) {
    if (Date.now() > deadline) throw new Error('the flag clients and the service did not reach 50 % in 15 s');
    await sleep(20);
  }
}

/** Waits until the load got no unified answer for QUIET_MS; the last unified answer's epoch ms. */
async function serviceQuiet(traffic: DemoTraffic, deadline: number): Promise<number> {
  for (;;) {
    const last = traffic.lastUnifiedAt() ?? 0;
    if (Date.now() - last >= QUIET_MS) return last;
    if (Date.now() > deadline) throw new Error('the service still routes users to the unified path');
    await sleep(50);
  }
}

function rolloutPlan(flag: string, serviceUrl: string): RolloutPlanInput {
  return {
    flag,
    unleash: { project: 'default', environment: 'development' },
    backup: { tables: [] },
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    gates: {
      compare: {
        provider: 'compare',
        endpoint: `${serviceUrl}/metrics`,
        interval: '1s',
        maxRatio: 1.5,
        alpha: 0.01,
        minSample: 50,
      },
    },
    rollback: { scope: 'flag' },
    stages: [
      // Long enough that only the gate ends it.
      { percent: 50, soak: '60s', gates: ['compare'] },
      { percent: 100, soak: '0s', gates: [] },
    ],
  };
}

/**
 * Issue 9's `rollback-time`: how fast a bad stage is undone on the real stack. A real worker (child process)
 * runs real rollouts of a real Unleash flag that the real config service (child process, its flag client
 * polling every second) routes by, under a load of LOAD_PER_SECOND reads over LOAD_USERS users; each rollout
 * sits at 50 % with a `compare` gate measuring every second. Once every client evaluates 50 %, the fault switch
 * fails FAULT_RATE of the unified path's requests (at a random moment in the gate's and clients' cycles).
 * Measured from the first 5xx the load receives to: the decisive measurement and `gate_failed` (audit log),
 * the flag at 0 % confirmed by Unleash (`flag_rolled_back`), the service routing everyone to legacy (the
 * load's last answer with `x-config-path: unified`), and every one of CLIENTS standalone flag clients
 * evaluating off; "every client" is the later of the last two. `flag_rolled_back` is written one activity after
 * Unleash's read-back of 0 %, so the service can be seen off a little before that row.
 *
 * Baseline, in the same run after each rollback: the flag written to 50 % and then straight to 0 % through the
 * Admin API (no gate, no workflow), timed from the write to every client evaluating off: the part of the
 * rollback time that is Unleash's and the clients' polling alone.
 */
export default async function rollbackTimeBench(): Promise<Record<string, number | string>> {
  const env = readEnv();
  const flag = uniqueFlagName('rollback-time');
  const target = flagTarget(flag);
  const admin = new UnleashAdminClient({ url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN });
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'rollback-time-'));
  const clients: UnifiedConfigFlag[] = [];
  const witnesses = Array.from({ length: WITNESSES }, (_unused, index) => `witness-${index}`).filter(
    (user) => normalizedStrategyValue(user, flag) <= 50,
  );
  let database: TestDatabase | undefined;
  let service: ServiceProcess | undefined;
  let worker: WorkerProcess | undefined;
  let traffic: DemoTraffic | undefined;
  let connection: Connection | undefined;
  const setFault = async (url: string, rate: number): Promise<void> => {
    const response = await fetch(`${url}/admin/fault`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKENS.admin.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rate }),
      signal: AbortSignal.timeout(5_000),
    });
    if (response.status !== 200) throw new Error(`fault switch answered ${response.status}`);
    await response.arrayBuffer();
  };
  try {
    if (witnesses.length === 0) throw new Error('no witness user is on at 50 %');
    database = await createTestDatabase('bench_rollback_time');
    await setConfig(database.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
    await setFlagPercent(env, flag, 0);
    const taskQueue = `bench-rollback-time-${uniqueSuffix()}`;
    log('starting the worker and the config service (child processes)');
    [worker, service] = await Promise.all([
      startWorkerProcess({ taskQueue, databaseUrl: database.url }),
      startServiceProcess(
        {
          DATABASE_URL: database.url,
          UNIFIED_CONFIG_FLAG: flag,
          UNLEASH_BACKUP_DIR: backupDir,
          UNLEASH_REFRESH_INTERVAL_MS: String(REFRESH_INTERVAL_MS),
          ENABLE_UNIFIED_CONFIG: '',
          SERVICE_FAULT_RATE: '0',
          LOG_LEVEL: 'warn',
        },
        { waitUntilReady: true },
      ),
    ]);
    const serviceUrl = service.url;
    for (let index = 0; index < CLIENTS; index++) {
      const client = createUnifiedConfigFlag({
        unleashUrl: env.UNLEASH_URL,
        clientToken: env.UNLEASH_CLIENT_TOKEN,
        flagName: flag,
        appName: `rollback-time-${index}`,
        backupDir,
        refreshIntervalMs: REFRESH_INTERVAL_MS,
        sendUsageMetrics: false,
        registry: new Registry(),
      });
      client.start();
      clients.push(client);
    }
    for (const client of clients) {
      if (!(await client.whenReady(15_000))) throw new Error('a flag client did not load the flag in 15 s');
    }
    traffic = startDemoTraffic({
      baseUrl: serviceUrl,
      token: TEST_TOKENS.all.token,
      ratePerSecond: LOAD_PER_SECOND,
      users: LOAD_USERS,
      keys: ['max_tokens'],
    });
    const loadStartedAt = Date.now();
    connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, connectTimeout: 10_000 });
    const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    log(
      `${RUNS} runs: ${CLIENTS} clients + the service refreshing every ${REFRESH_INTERVAL_MS} ms, ` +
        `${LOAD_PER_SECOND} reads/s, fault ${FAULT_RATE * 100} % of unified requests, gate every 1 s`,
    );

    const measuredMs: number[] = [];
    const firstFailureMs: number[] = [];
    const decisiveMs: number[] = [];
    const gateFailedMs: number[] = [];
    const flagZeroMs: number[] = [];
    const serviceOffMs: number[] = [];
    const clientsOffMs: number[] = [];
    const errorsDuringFault: number[] = [];
    const baselineMs: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const rolloutId = newRolloutId();
      const handle = await temporal.workflow.start(RolloutWorkflow, {
        workflowId: rolloutId,
        taskQueue,
        args: [{ rolloutId, plan: rolloutPlan(flag, serviceUrl), requestedBy: 'rollback-time-bench' }],
        typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
      });
      await waitForStatus(handle, (s) => s.stageIndex === 0 && s.percent === 50, '50 %', RUN_TIMEOUT_MS);
      const confirmedAt = Date.now();
      await everyoneOn(clients, witnesses, traffic, confirmedAt);
      // A random moment in the gate's one-second cycle and the clients' polls.
      await sleep(500 + Math.random() * 1_000);

      const before = traffic.totals();
      const faultOnAt = Date.now();
      await setFault(serviceUrl, FAULT_RATE);
      const deadline = faultOnAt + RUN_TIMEOUT_MS;
      const clientsDone = clientsOff(clients, witnesses, deadline);
      const result = (await handle.result()) as RolloutStatus;
      const offAt = await clientsDone;
      const lastUnified = await serviceQuiet(traffic, deadline);
      const after = traffic.totals();
      await setFault(serviceUrl, 0);
      if (
        result.outcome !== 'rolled_back' ||
        !(result.error ?? '').includes('gate_failed: gate compare at stage 1')
      ) {
        throw new Error(
          `run ${run}: ${rolloutId} ended ${result.outcome} (${result.error}), not rolled back by its gate`,
        );
      }

      const audit = await listAuditEvents(database.db, rolloutId);
      const gateFailed = audit.find((e) => e.kind === 'gate_failed');
      const flagZero = audit.find((e) => e.kind === 'flag_rolled_back');
      const decisive = audit.find((e) => gateFailed && e.dedupe_key === gateFailed.details.measurementKey);
      const firstFailure = traffic.firstErrorSince(faultOnAt);
      if (!gateFailed || !flagZero || !decisive || firstFailure === null) {
        throw new Error(
          `run ${run}: ${rolloutId} lacks a gate_failed, flag_rolled_back, decisive row or a 5xx`,
        );
      }
      const everyClient = Math.max(...offAt, lastUnified);
      measuredMs.push(everyClient - firstFailure);
      firstFailureMs.push(firstFailure - faultOnAt);
      decisiveMs.push(decisive.at.getTime() - firstFailure);
      gateFailedMs.push(gateFailed.at.getTime() - firstFailure);
      flagZeroMs.push(flagZero.at.getTime() - firstFailure);
      serviceOffMs.push(lastUnified - firstFailure);
      clientsOffMs.push(Math.max(...offAt) - firstFailure);
      errorsDuringFault.push(after.errors - before.errors);

      // Baseline: Unleash and the clients alone, a direct write to 50 % and then to 0 %.
      await admin.setRolloutPercent(target, 50);
      const onAt = Date.now();
      await everyoneOn(clients, witnesses, traffic, onAt);
      await sleep(Math.random() * 1_000);
      const writeAt = Date.now();
      const readback = await admin.setRolloutPercent(target, 0);
      if (readback.percent !== 0) throw new Error(`Unleash confirms ${readback.percent} %, not 0 %`);
      const baseOff = await clientsOff(clients, witnesses, writeAt + RUN_TIMEOUT_MS);
      const baseUnified = await serviceQuiet(traffic, writeAt + RUN_TIMEOUT_MS);
      baselineMs.push(Math.max(...baseOff, baseUnified) - writeAt);

      log(
        `run ${run}/${RUNS} ${rolloutId}: first 5xx +${firstFailureMs.at(-1)} ms after the fault; from it: ` +
          `decisive measurement ${decisiveMs.at(-1)} ms, gate_failed ${gateFailedMs.at(-1)} ms, ` +
          `flag 0 % confirmed ${flagZeroMs.at(-1)} ms, service off ${serviceOffMs.at(-1)} ms, ` +
          `${CLIENTS} clients off ${clientsOffMs.at(-1)} ms → every client ${measuredMs.at(-1)} ms ` +
          `(${errorsDuringFault.at(-1)} 5xx); baseline write → every client ${baselineMs.at(-1)} ms`,
      );
    }

    const round = (value: number): number => Math.round(value);
    const p50 = (values: number[]): number => round(percentile(values, 50));
    const max = (values: number[]): number => round(Math.max(...values));
    return {
      target: 'first failing response → every client evaluating off within seconds (issue 9: p99 ≤ 5,000 ms)',
      target_ms: TARGET_MS,
      p50_ms: p50(measuredMs),
      // With 10 runs the nearest-rank p99 is the maximum.
      p99_ms: round(percentile(measuredMs, 99)),
      max_ms: max(measuredMs),
      runs: RUNS,
      clients: CLIENTS,
      refresh_interval_ms: REFRESH_INTERVAL_MS,
      gate_interval_ms: 1_000,
      fault_rate: FAULT_RATE,
      load_per_s: LOAD_PER_SECOND,
      fault_to_first_failure_p50_ms: p50(firstFailureMs),
      decisive_measurement_p50_ms: p50(decisiveMs),
      decisive_measurement_max_ms: max(decisiveMs),
      gate_failed_p50_ms: p50(gateFailedMs),
      gate_failed_max_ms: max(gateFailedMs),
      flag_zero_confirmed_p50_ms: p50(flagZeroMs),
      flag_zero_confirmed_max_ms: max(flagZeroMs),
      service_off_p50_ms: p50(serviceOffMs),
      service_off_max_ms: max(serviceOffMs),
      clients_off_p50_ms: p50(clientsOffMs),
      clients_off_max_ms: max(clientsOffMs),
      errors_during_fault_p50: p50(errorsDuringFault),
      // What the load really achieved on this machine (it sends less when the service answers slowly).
      load_answered_per_s: Math.round(traffic.totals().requests / ((Date.now() - loadStartedAt) / 1_000)),
      load_unanswered: traffic.totals().unreachable,
      baseline: 'a direct Admin API write of 0 % (no gate, no workflow) → every client evaluating off',
      baseline_p50_ms: p50(baselineMs),
      baseline_max_ms: max(baselineMs),
      load_avg_1m: Number(os.loadavg()[0]!.toFixed(2)),
    };
  } finally {
    await traffic?.stop();
    for (const client of clients) client.close();
    await service?.stop();
    await worker?.stop();
    await connection?.close();
    await archiveFlag(env, flag);
    await database?.drop();
    rmSync(backupDir, { recursive: true, force: true });
  }
}
