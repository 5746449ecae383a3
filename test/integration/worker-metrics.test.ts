import { parseExposition, type ExpositionSample } from '../../activities/gates/exposition';
import { setConfig } from '../../db/runtime-config-queries';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { RolloutWorkflow } from '../../workflows';
import { waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';
import type { ServiceHarness } from '../helpers/service-harness';
import { startServiceUnderLoad } from '../helpers/service-under-load';
import { archiveFlag, freePort, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

/**
 * Issue 9 "Worker metrics", SPEC §8: the real worker process (`src/worker/main.ts`) with WORKER_METRICS_ADDRESS
 * set runs real gated rollouts (the config service under load, `compare` and `http` gates, the real Unleash),
 * and its Prometheus endpoint — the SDK runtime's own exporter — carries the rollout metrics next to the SDK's:
 * confirmed percent, phase, gate value, threshold and verdicts, rollbacks by cause, with bounded labels only.
 */

/** Labels a rollout series may carry: ours, and the ones the SDK adds to every custom metric. */
const ALLOWED_LABELS = new Set([
  'flag',
  'environment',
  'gate',
  'phase',
  'table',
  'verdict',
  'cause',
  'namespace',
  'taskQueue',
  'workflowType',
  'activityType',
  'service_name',
]);

let database: TestDatabase;
let temporal: TestTemporal;
let worker: WorkerProcess;
let metricsUrl: string;

beforeAll(async () => {
  database = await createTestDatabase('worker_metrics');
  temporal = await connectTestTemporal('metrics');
  await setConfig(database.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
  const address = `127.0.0.1:${await freePort()}`;
  metricsUrl = `http://${address}/metrics`;
  worker = await startWorkerProcess({
    taskQueue: temporal.taskQueue,
    databaseUrl: database.url,
    env: { WORKER_METRICS_ADDRESS: address },
  });
}, 90_000);

afterAll(async () => {
  await worker?.stop();
  await temporal?.close();
  await database?.drop();
});

async function scrape(): Promise<ExpositionSample[]> {
  const response = await fetch(metricsUrl);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/** The rollout series of one flag, once `ready` holds for them (the exporter shows a data point at once, but
 * the workflow's metrics leave the sandbox after its activation). */
async function rolloutSeries(
  flag: string,
  ready: (series: ExpositionSample[]) => boolean,
): Promise<ExpositionSample[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const series = (await scrape()).filter((s) => s.name.startsWith('rollout_') && s.labels.flag === flag);
    if (ready(series) || Date.now() > deadline) return series;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function find(series: ExpositionSample[], name: string, labels: Record<string, string> = {}) {
  return series.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
}

function showSeries(series: ExpositionSample[]): string {
  return series
    .map(
      (s) =>
        `${s.name}{${Object.entries(s.labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(',')}} ${s.value}`,
    )
    .join('\n');
}

/** The config service on the test database routing by `flag` (at 0 % in Unleash), under load. */
async function serviceUnderLoad(flag: string) {
  await setFlagPercent(temporal.env, flag, 0);
  const service = await startServiceUnderLoad({ databaseUrl: database.url, flag, load: true });
  return {
    ...service,
    close: async () => {
      await service.close();
      await archiveFlag(temporal.env, flag);
    },
  };
}

function gatedPlan(
  flag: string,
  harness: ServiceHarness,
  stages: RolloutPlanInput['stages'],
): RolloutPlanInput {
  return {
    flag,
    unleash: { project: 'default', environment: 'development' },
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    stages,
    gates: {
      compare: {
        provider: 'compare',
        endpoint: `${harness.url}/metrics`,
        interval: '1s',
        minSample: 5,
        inconclusiveLimit: '30s',
      },
      health: { provider: 'http', url: `${harness.url}/readyz`, interval: '1s' },
    },
  };
}

async function startRollout(plan: RolloutPlanInput) {
  const rolloutId = `r-metrics-${uniqueSuffix()}`;
  const handle = await temporal.client.workflow.start(RolloutWorkflow, {
    workflowId: rolloutId,
    taskQueue: temporal.taskQueue,
    args: [{ rolloutId, plan, requestedBy: 'jest@test' }],
    typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: plan.flag }],
  });
  return { rolloutId, handle };
}

function expectBoundedLabels(series: ExpositionSample[], rolloutId: string): void {
  for (const sample of series) {
    for (const [label, value] of Object.entries(sample.labels)) {
      expect({ metric: sample.name, label, allowed: ALLOWED_LABELS.has(label) }).toMatchObject({
        allowed: true,
      });
      expect(value).not.toContain(rolloutId);
    }
  }
}

test('a healthy gated rollout: percent 100, phase complete, gate values, thresholds and pass verdicts', async () => {
  const flag = uniqueFlagName('metrics-ok');
  const service = await serviceUnderLoad(flag);
  try {
    const { rolloutId, handle } = await startRollout(
      gatedPlan(flag, service.harness, [
        { percent: 10, soak: '4s', gates: ['compare', 'health'] },
        { percent: 100, soak: '0s' },
      ]),
    );
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'completed', percent: 100 });

    const env = { flag, environment: 'development' };
    const series = await rolloutSeries(
      flag,
      (s) => find(s, 'rollout_phase', { phase: 'complete' })[0]?.value === 1,
    );
    console.log(`scraped rollout series of a completed rollout:\n${showSeries(series)}`);
    expect(find(series, 'rollout_percent', env).map((s) => s.value)).toEqual([100]);
    expect(find(series, 'rollout_phase', { ...env, phase: 'complete' }).map((s) => s.value)).toEqual([1]);
    expect(find(series, 'rollout_phase', { ...env, phase: 'ramp' }).map((s) => s.value)).toEqual([0]);
    expect(find(series, 'rollout_phase', { ...env, phase: 'preflight' }).map((s) => s.value)).toEqual([0]);
    for (const gate of ['compare', 'health']) {
      const [value] = find(series, 'rollout_gate_value', { ...env, gate });
      expect(value).toBeDefined();
      expect(value!.value).toBeGreaterThanOrEqual(0);
      const passes = find(series, 'rollout_gate_verdicts_total', { ...env, gate, verdict: 'pass' });
      expect(passes).toHaveLength(1);
      expect(passes[0]!.value).toBeGreaterThan(0);
      expect(find(series, 'rollout_gate_verdicts_total', { ...env, gate, verdict: 'fail' })).toHaveLength(0);
    }
    // The http gate judges the status code against 200..399 with no threshold; compare's is its maxRatio.
    expect(find(series, 'rollout_gate_threshold', { ...env, gate: 'compare' })[0]?.value).toBeGreaterThan(0);
    expect(find(series, 'rollout_rollbacks_total', env)).toHaveLength(0);
    expectBoundedLabels(series, rolloutId);
  } finally {
    await service.close();
  }
});

test('a gate failure at 50%: percent 0, phase rollback, fail verdicts and one rollback with cause gate_failed', async () => {
  const flag = uniqueFlagName('metrics-fault');
  const service = await serviceUnderLoad(flag);
  try {
    const { rolloutId, handle } = await startRollout(
      gatedPlan(flag, service.harness, [
        { percent: 10, soak: '4s', gates: ['compare', 'health'] },
        { percent: 50, soak: '60s', gates: ['compare', 'health'] },
        { percent: 100, soak: '0s' },
      ]),
    );
    await waitForStatus(handle, (s) => s.stageIndex === 1, 'stage 2 (50%)', 60_000);
    const env = { flag, environment: 'development' };
    const atFifty = await rolloutSeries(flag, (s) => find(s, 'rollout_percent', env)[0]?.value === 50);
    expect(find(atFifty, 'rollout_percent', env).map((s) => s.value)).toEqual([50]);
    expect(find(atFifty, 'rollout_phase', { ...env, phase: 'ramp' }).map((s) => s.value)).toEqual([1]);

    await service.setFault(0.5);
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0 });

    const series = await rolloutSeries(
      flag,
      (s) =>
        find(s, 'rollout_rollbacks_total', env).length > 0 && find(s, 'rollout_percent', env)[0]?.value === 0,
    );
    console.log(`scraped rollout series of a rolled-back rollout:\n${showSeries(series)}`);
    expect(find(series, 'rollout_percent', env).map((s) => s.value)).toEqual([0]);
    expect(find(series, 'rollout_phase', { ...env, phase: 'rollback' }).map((s) => s.value)).toEqual([1]);
    expect(find(series, 'rollout_phase', { ...env, phase: 'ramp' }).map((s) => s.value)).toEqual([0]);
    const rollbacks = find(series, 'rollout_rollbacks_total', env);
    expect(rollbacks.map((s) => [s.labels.cause, s.value])).toEqual([['gate_failed', 1]]);
    const fails = find(series, 'rollout_gate_verdicts_total', { ...env, gate: 'compare', verdict: 'fail' });
    expect(fails[0]?.value).toBeGreaterThan(0);
    expect(find(series, 'rollout_gate_value', { ...env, gate: 'compare' })).toHaveLength(1);
    expectBoundedLabels(series, rolloutId);
  } finally {
    await service.setFault(0);
    await service.close();
  }
});
