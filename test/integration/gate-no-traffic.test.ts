import { setConfig } from '../../db/runtime-config-queries';
import { listAuditEvents } from '../../db/audit-events';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { resumeUpdate, RolloutWorkflow } from '../../workflows';
import type { RolloutStatus } from '../../workflows/rollout-status';
import { finalStatus, flagPercent, waitForStatus } from '../helpers/rollout-test-helpers';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { startServiceUnderLoad, type ServiceUnderLoad } from '../helpers/service-under-load';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

/**
 * Issue 9, must-show 3 on the real stack (Temporal, Unleash, Postgres, the config service): with no traffic
 * the `compare` gate stays below its minimum sample, so it is inconclusive and the rollout pauses with that
 * reason; `resume` measures again and, with traffic flowing by then, the rollout completes. When nobody
 * answers, `escalateAfter` applies the plan's `onEscalation`: `rollback` (flag at 0 %, confirmed by Unleash)
 * or `proceed` (as if resumed).
 */

let database: TestDatabase;
let temporal: TestTemporal;

beforeAll(async () => {
  database = await createTestDatabase('gate_no_traffic');
  temporal = await connectTestTemporal('no-traffic');
  await setConfig(database.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
});

afterAll(async () => {
  await temporal?.close();
  await database?.drop();
});

/** 10 % with a `compare` gate that gives up waiting for traffic after 2 s, then 100 %. */
function noTrafficPlan(
  flag: string,
  service: ServiceUnderLoad,
  escalation: Pick<RolloutPlanInput, 'escalateAfter' | 'onEscalation'> = {},
): RolloutPlanInput {
  return {
    flag,
    unleash: { project: 'default', environment: 'development' },
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    stages: [
      { percent: 10, soak: '4s', gates: ['compare'] },
      { percent: 100, soak: '0s' },
    ],
    gates: {
      compare: {
        provider: 'compare',
        endpoint: `${service.harness.url}/metrics`,
        interval: '1s',
        minSample: 5,
        inconclusiveLimit: '2s',
      },
    },
    ...escalation,
  };
}

async function withRollout(
  label: string,
  options: { escalation?: Pick<RolloutPlanInput, 'escalateAfter' | 'onEscalation'> },
  run: (rollout: {
    flag: string;
    rolloutId: string;
    service: ServiceUnderLoad;
    handle: Awaited<ReturnType<typeof temporal.client.workflow.start<typeof RolloutWorkflow>>>;
  }) => Promise<void>,
): Promise<void> {
  const flag = uniqueFlagName(label);
  await setFlagPercent(temporal.env, flag, 0);
  const service = await startServiceUnderLoad({ databaseUrl: database.url, flag, load: false });
  try {
    await temporal.withWorker(database.db, async () => {
      const rolloutId = `r-notraffic-${uniqueSuffix()}`;
      const plan = noTrafficPlan(flag, service, options.escalation);
      const handle = await temporal.client.workflow.start(RolloutWorkflow, {
        workflowId: rolloutId,
        taskQueue: temporal.taskQueue,
        args: [{ rolloutId, plan, requestedBy: 'jest@test' }],
        typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
      });
      await run({ flag, rolloutId, service, handle });
    });
  } finally {
    await service.close();
    await archiveFlag(temporal.env, flag);
  }
}

/** The pause an inconclusive gate causes, checked in the status and the audit log. */
async function expectInconclusivePause(
  rolloutId: string,
  status: RolloutStatus,
  service: ServiceUnderLoad,
): Promise<void> {
  // No traffic at all reached the service: that is why the gate could not judge.
  expect(service.requests()).toBe(0);
  expect(status).toMatchObject({
    paused: true,
    pausedBy: 'gate:compare',
    stageIndex: 0,
    percent: 10,
    outcome: 'running',
    gates: { stage: 1, outcome: 'inconclusive' },
  });
  const last = status.gates!.gates[0]!.last.at(-1)!;
  expect(last.verdict).toBe('inconclusive');
  // No request reached the service, so neither path has a series yet (below any minimum sample).
  expect(last.detail).toMatch(/no http_request_duration_seconds_count series .* yet|fewer than/);
  expect(status.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['gate_inconclusive', 'paused']));
  expect(status.events.find((e) => e.kind === 'paused')!.message).toMatch(
    /paused by gate:compare: gate compare inconclusive/,
  );
  // The status shows the pause as soon as it is decided; its audit row is written right after.
  let audit = await listAuditEvents(database.db, rolloutId);
  for (let waited = 0; !audit.some((e) => e.kind === 'paused') && waited < 10_000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    audit = await listAuditEvents(database.db, rolloutId);
  }
  const inconclusive = audit.find((e) => e.kind === 'gate_inconclusive');
  expect(inconclusive).toMatchObject({ actor: 'gate:compare', details: { gate: 'compare', stage: 1 } });
  expect(String(inconclusive!.details.reason)).toMatch(/gate compare inconclusive since/);
  expect(audit.find((e) => e.kind === 'paused')).toMatchObject({ actor: 'gate:compare' });
  const measured = audit.filter((e) => e.kind === 'gate_measurement');
  expect(measured.length).toBeGreaterThanOrEqual(2);
  expect(measured.every((e) => e.details.verdict === 'inconclusive')).toBe(true);
  // Still at stage 1: the only stage reached.
  expect(audit.filter((e) => e.kind === 'stage_reached')).toHaveLength(1);
}

test('no traffic: the gate is inconclusive and the rollout pauses with that reason; resume measures again and, with traffic, completes', async () => {
  await withRollout('no-traffic-resume', {}, async ({ flag, rolloutId, service, handle }) => {
    const paused = await waitForStatus(handle, (s) => s.paused, 'the inconclusive pause', 60_000);
    await expectInconclusivePause(rolloutId, paused, service);
    // Held: nothing moves while nobody answers (the plan has no escalateAfter).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await handle.query('status')).toMatchObject({ paused: true, stageIndex: 0 });
    expect(await flagPercent(temporal.unleash, flag)).toBe(10);

    service.startLoad();
    const answer = await handle.executeUpdate(resumeUpdate, {
      args: [{ actor: 'jest@test', reason: 'traffic is back' }],
    });
    expect(answer).toMatchObject({ paused: false, stageIndex: 0 });
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'completed', percent: 100 });
    expect(result.gates).toMatchObject({ stage: 1, outcome: 'passed' });
    expect(await flagPercent(temporal.unleash, flag)).toBe(100);
    expect(service.requests()).toBeGreaterThan(0);

    const audit = await listAuditEvents(database.db, rolloutId);
    const kinds = audit.map((e) => e.kind);
    // The order of decisions: paused, the operator's resume, gates measured again and passed, then stage 2.
    const at = (kind: string) => kinds.indexOf(kind);
    expect(at('gate_inconclusive')).toBeLessThan(at('paused'));
    expect(at('paused')).toBeLessThan(at('operator_resume'));
    expect(at('operator_resume')).toBeLessThan(at('gates_passed'));
    expect(at('gates_passed')).toBeLessThan(kinds.lastIndexOf('stage_reached'));
    expect(kinds.at(-1)).toBe('completed');
    // The second round (after the resume) measured with traffic and passed.
    const resumedAt = audit[at('operator_resume')]!.id;
    const after = audit.filter((e) => e.kind === 'gate_measurement' && e.id > resumedAt);
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.at(-1)!.details).toMatchObject({ verdict: 'pass', gate: 'compare', stage: 1 });
    expect(after.every((e) => e.dedupe_key.startsWith('gate-s1-r1-compare#'))).toBe(true);
  });
});

test('no traffic and nobody answers: escalateAfter applies onEscalation rollback, the flag at 0 % confirmed', async () => {
  await withRollout(
    'no-traffic-escalate',
    { escalation: { escalateAfter: '3s', onEscalation: 'rollback' } },
    async ({ flag, rolloutId, service, handle }) => {
      const paused = await waitForStatus(handle, (s) => s.paused, 'the inconclusive pause', 60_000);
      await expectInconclusivePause(rolloutId, paused, service);
      expect(await flagPercent(temporal.unleash, flag)).toBe(10);

      const result = await finalStatus(handle);
      expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0, paused: false, pausedBy: null });
      expect(result.error).toMatch(/rollback requested by escalation: escalated \(gate compare inconclusive/);
      expect(await flagPercent(temporal.unleash, flag)).toBe(0);

      const audit = await listAuditEvents(database.db, rolloutId);
      const kinds = audit.map((e) => e.kind);
      expect(audit.find((e) => e.kind === 'escalated')!.details).toMatchObject({ action: 'rollback' });
      expect(kinds.indexOf('paused')).toBeLessThan(kinds.indexOf('escalated'));
      expect(kinds.indexOf('escalated')).toBeLessThan(kinds.indexOf('flag_rolled_back'));
      expect(kinds).not.toContain('completed');
      expect(kinds.filter((k) => k === 'stage_reached')).toHaveLength(1);
      // Nobody answered: no operator request in the log.
      expect(kinds.filter((k) => k.startsWith('operator_'))).toEqual([]);
    },
  );
});

test('no traffic and nobody answers: onEscalation proceed measures again as if resumed and, with traffic by then, completes', async () => {
  await withRollout(
    'no-traffic-proceed',
    { escalation: { escalateAfter: '3s', onEscalation: 'proceed' } },
    async ({ flag, rolloutId, service, handle }) => {
      const paused = await waitForStatus(handle, (s) => s.paused, 'the inconclusive pause', 60_000);
      await expectInconclusivePause(rolloutId, paused, service);
      service.startLoad();

      const result = await finalStatus(handle);
      expect(result).toMatchObject({ outcome: 'completed', percent: 100 });
      expect(await flagPercent(temporal.unleash, flag)).toBe(100);
      const audit = await listAuditEvents(database.db, rolloutId);
      const kinds = audit.map((e) => e.kind);
      expect(audit.find((e) => e.kind === 'escalated')!.details).toMatchObject({ action: 'proceed' });
      expect(kinds.indexOf('escalated')).toBeLessThan(kinds.indexOf('gates_passed'));
      expect(kinds.filter((k) => k.startsWith('operator_'))).toEqual([]);
      const escalatedAt = audit.find((e) => e.kind === 'escalated')!.id;
      const after = audit.filter((e) => e.kind === 'gate_measurement' && e.id > escalatedAt);
      expect(after.at(-1)!.details).toMatchObject({ verdict: 'pass', gate: 'compare' });
    },
  );
});
