import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fingerprintTable } from '../../activities/backup/table-backups';
import { listAuditEvents } from '../../db/audit-events';
import { setConfig } from '../../db/runtime-config-queries';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { createSecretBox } from '../../src/secrets/secret-box';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { RolloutWorkflow, rollbackSignal } from '../../workflows';
import { flagPercent, waitForStatus, finalStatus } from '../helpers/rollout-test-helpers';
import { allRows, insertLegacyRows } from '../helpers/config-fixtures';
import { call, startServiceHarness, type ServiceHarness } from '../helpers/service-harness';
import { TEST_TOKENS } from '../helpers/service-tokens';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

/**
 * Issue 9, "must show" 1, 2 and 4 on the real stack: a real rollout (Temporal, a real worker) ramps a real
 * Unleash flag that the real config service routes by, while a load loop reads through the service. The
 * `compare` gate judges the unified path against the legacy one from the service's /metrics, the `http` gate
 * its /readyz. Soaks of a few seconds, gates every second.
 */

const USERS = Array.from({ length: 60 }, (_unused, index) => `gated-user-${index}`);
const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

let database: TestDatabase;
let temporal: TestTemporal;

beforeAll(async () => {
  database = await createTestDatabase('gated_rollout');
  temporal = await connectTestTemporal('gated');
  await setConfig(database.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
});

afterAll(async () => {
  await temporal?.close();
  await database?.drop();
});

/** The config service on the test database, routing by `flag`, with a load loop reading through it. */
async function serviceUnderLoad(flag: string) {
  await setFlagPercent(temporal.env, flag, 0);
  const harness: ServiceHarness = await startServiceHarness({
    databaseUrl: database.url,
    secretBox,
    flagName: flag,
    service: { faultRate: 0 },
  });
  let running = true;
  const load = (async () => {
    while (running) {
      for (const user of USERS) {
        if (!running) break;
        await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user });
      }
    }
  })();
  return {
    harness,
    setFault: (rate: number) =>
      call(harness.url, 'POST', '/admin/fault', { body: { rate }, token: TEST_TOKENS.admin.token }),
    close: async () => {
      running = false;
      await load;
      await harness.close();
      await archiveFlag(temporal.env, flag);
    },
  };
}

function gatedPlan(
  flag: string,
  harness: ServiceHarness,
  options: { secondSoak: string; onFailure?: 'rollback' | 'hold' },
): RolloutPlanInput {
  return {
    flag,
    unleash: { project: 'default', environment: 'development' },
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    stages: [
      { percent: 10, soak: '4s', gates: ['compare', 'health'] },
      { percent: 50, soak: options.secondSoak, gates: ['compare', 'health'] },
      { percent: 100, soak: '0s' },
    ],
    gates: {
      compare: {
        provider: 'compare',
        endpoint: `${harness.url}/metrics`,
        interval: '1s',
        // Test traffic is small; production minimums are larger.
        minSample: 5,
        inconclusiveLimit: '30s',
        ...(options.onFailure ? { onFailure: options.onFailure } : {}),
      },
      health: { provider: 'http', url: `${harness.url}/readyz`, interval: '1s' },
    },
  };
}

async function startRollout(plan: RolloutPlanInput) {
  const rolloutId = `r-gated-${uniqueSuffix()}`;
  const handle = await temporal.client.workflow.start(RolloutWorkflow, {
    workflowId: rolloutId,
    taskQueue: temporal.taskQueue,
    args: [{ rolloutId, plan, requestedBy: 'jest@test' }],
    typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: plan.flag }],
  });
  return { rolloutId, handle };
}

test('a healthy 10 → 50 → 100 rollout with compare and http gates completes; every measurement is audited', async () => {
  const flag = uniqueFlagName('gated-ok');
  const service = await serviceUnderLoad(flag);
  try {
    await temporal.withWorker(database.db, async () => {
      const { rolloutId, handle } = await startRollout(
        gatedPlan(flag, service.harness, { secondSoak: '4s' }),
      );
      const result = await finalStatus(handle);
      expect(result.outcome).toBe('completed');
      expect(result.percent).toBe(100);
      expect(result.gates).toMatchObject({ stage: 2, outcome: 'passed' });

      const audit = await listAuditEvents(database.db, rolloutId);
      const measurements = audit.filter((e) => e.kind === 'gate_measurement');
      for (const stage of [1, 2]) {
        for (const gate of ['compare', 'health']) {
          const rows = measurements.filter((e) => e.details.stage === stage && e.details.gate === gate);
          // About one per second of a 4 s soak, plus compare's final one.
          expect(rows.length).toBeGreaterThanOrEqual(3);
          expect(rows.every((e) => e.actor === `gate:${gate}`)).toBe(true);
          expect(rows.at(-1)!.details).toMatchObject({ verdict: 'pass' });
        }
      }
      expect(measurements.every((e) => e.details.verdict !== 'fail')).toBe(true);
      expect(audit.filter((e) => e.kind === 'gates_passed')).toHaveLength(2);
      // Stage 2 starts only after stage 1's gates passed.
      const order = audit.map((e) => `${e.kind}:${String(e.details.stage ?? '')}`);
      expect(order.indexOf('gates_passed:1')).toBeLessThan(order.indexOf('stage_reached:2'));
    });
  } finally {
    await service.close();
  }
});

test('the fault switch at 50% fails the compare gate and rolls the flag back to 0%; the audit log names the measurement', async () => {
  const flag = uniqueFlagName('gated-fault');
  const service = await serviceUnderLoad(flag);
  try {
    await temporal.withWorker(database.db, async () => {
      const { rolloutId, handle } = await startRollout(
        gatedPlan(flag, service.harness, { secondSoak: '60s' }),
      );
      await waitForStatus(handle, (s) => s.stageIndex === 1, 'stage 2 (50%)', 60_000);
      expect((await service.setFault(0.5)).status).toBe(200);
      const faultAt = Date.now();
      const result = await finalStatus(handle);
      expect(result.outcome).toBe('rolled_back');
      expect(result.percent).toBe(0);
      expect(result.error).toMatch(/gate_failed: gate compare at stage 2 \(50%\)/);
      // Decided during the soak, not at its end.
      expect(Date.now() - faultAt).toBeLessThan(30_000);
      expect(await flagPercent(temporal.unleash, flag)).toBe(0);

      const audit = await listAuditEvents(database.db, rolloutId);
      const failed = audit.find((e) => e.kind === 'gate_failed')!;
      expect(failed).toMatchObject({ actor: 'gate:compare' });
      expect(failed.details).toMatchObject({ cause: 'gate_failed', gate: 'compare', stage: 2 });
      const decisive = audit.find((e) => e.dedupe_key === failed.details.measurementKey)!;
      expect(decisive).toMatchObject({ kind: 'gate_measurement', actor: 'gate:compare' });
      expect(decisive.details).toMatchObject({ verdict: 'fail', stage: 2, percent: 50 });
      const kinds = audit.map((e) => e.kind);
      expect(kinds.indexOf('gate_failed')).toBeLessThan(kinds.indexOf('flag_rolled_back'));
      expect(kinds).not.toContain('completed');
    });
  } finally {
    await service.setFault(0);
    await service.close();
  }
});

test('onFailure: hold pauses at the failing stage with the flag unchanged; the operator decides', async () => {
  const flag = uniqueFlagName('gated-hold');
  const service = await serviceUnderLoad(flag);
  try {
    await temporal.withWorker(database.db, async () => {
      const { rolloutId, handle } = await startRollout(
        gatedPlan(flag, service.harness, { secondSoak: '60s', onFailure: 'hold' }),
      );
      await waitForStatus(handle, (s) => s.stageIndex === 1, 'stage 2 (50%)', 60_000);
      expect((await service.setFault(0.5)).status).toBe(200);
      const held = await waitForStatus(handle, (s) => s.paused, 'the hold', 30_000);
      expect(held).toMatchObject({
        pausedBy: 'gate:compare',
        stageIndex: 1,
        percent: 50,
        outcome: 'running',
      });
      expect(held.gates).toMatchObject({ stage: 2, outcome: 'failed' });
      // Still held a moment later, flag unchanged.
      await sleep(2_000);
      expect(await flagPercent(temporal.unleash, flag)).toBe(50);
      expect((await handle.query('status')) as { stageIndex: number }).toMatchObject({ stageIndex: 1 });

      await handle.signal(rollbackSignal, { actor: 'jest@test', reason: 'compare gate failed' });
      const result = await finalStatus(handle);
      expect(result.outcome).toBe('rolled_back');
      expect(await flagPercent(temporal.unleash, flag)).toBe(0);
      const audit = await listAuditEvents(database.db, rolloutId);
      expect(audit.find((e) => e.kind === 'gate_failed')!.details).toMatchObject({ onFailure: 'hold' });
      expect(audit.find((e) => e.kind === 'paused')).toMatchObject({ actor: 'gate:compare' });
    });
  } finally {
    await service.setFault(0);
    await service.close();
  }
});

test('a hand edit of the strategy in Unleash between stages pauses the rollout with the drift reason and the difference', async () => {
  const flag = uniqueFlagName('gated-drift');
  await setFlagPercent(temporal.env, flag, 0);
  try {
    await temporal.withWorker(database.db, async () => {
      const { rolloutId, handle } = await startRollout({
        flag,
        unleash: { project: 'default', environment: 'development' },
        phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
        stages: [
          { percent: 10, soak: '5s' },
          { percent: 100, soak: '0s' },
        ],
      });
      await waitForStatus(handle, (s) => s.stageIndex === 0 && s.soakEndsAt !== null, 'stage 1');
      // Someone widens the cohort by hand in Unleash during the soak.
      await setFlagPercent(temporal.env, flag, 40);
      const held = await waitForStatus(handle, (s) => s.paused, 'the drift pause', 30_000);
      expect(held).toMatchObject({ pausedBy: 'drift-guard', stageIndex: 0, percent: 10 });
      expect(held.events.at(-1)!.message).toMatch(/edited outside the rollout: .*rollout 10 → 40/);
      // The rollout wrote nothing since: the hand edit is still there.
      expect(await flagPercent(temporal.unleash, flag)).toBe(40);
      // The pause shows in the status as the audit row is being written: wait for the row.
      let audit = await listAuditEvents(database.db, rolloutId);
      for (let tries = 0; tries < 100 && !audit.some((e) => e.kind === 'flag_drift'); tries++) {
        await sleep(100);
        audit = await listAuditEvents(database.db, rolloutId);
      }
      expect(audit.find((e) => e.kind === 'flag_drift')).toMatchObject({
        actor: 'drift-guard',
        details: { stage: 2, differences: [{ field: 'rollout', expected: '10', actual: '40' }] },
      });

      await handle.signal(rollbackSignal, { actor: 'jest@test', reason: 'someone edited the flag' });
      expect(await finalStatus(handle)).toMatchObject({ outcome: 'rolled_back', percent: 0 });
      expect(await flagPercent(temporal.unleash, flag)).toBe(0);
    });
  } finally {
    await archiveFlag(temporal.env, flag);
  }
});

test('with the data phases on, the fault at 50% rolls back by the gate and the tables come back to their backups (checksums)', async () => {
  await insertLegacyRows(database.db, [
    { key: 'maxTokens', value: '1024', valueType: 'number', updatedAt: '2026-01-01T00:00:00Z' },
    {
      key: 'MaxTokens',
      value: '512',
      valueType: 'number',
      userId: 'gated-user-1',
      updatedAt: '2026-01-05T00:00:00Z',
    },
    {
      key: 'topP',
      value: '0.9',
      valueType: 'number',
      userId: 'gated-user-2',
      updatedAt: '2026-01-08T00:00:00Z',
    },
  ]);
  await database.db
    .insertInto('prompt_templates')
    .values([
      { name: 'gated-a', body: 'A', llm_preferences: JSON.stringify({ maxTokens: 400, temperature: 0.3 }) },
    ])
    .execute();
  const before = {
    runtime_config: await fingerprintTable(database.db, 'runtime_config'),
    prompt_templates: await fingerprintTable(database.db, 'prompt_templates'),
  };
  const rowsBefore = await allRows(database.db);
  const flag = uniqueFlagName('gated-data');
  const service = await serviceUnderLoad(flag);
  try {
    await temporal.withWorker(database.db, async () => {
      const { rolloutId, handle } = await startRollout({
        ...gatedPlan(flag, service.harness, { secondSoak: '60s' }),
        backup: { tables: ['runtime_config', 'prompt_templates'] },
        phases: { migrateKeys: true, migrateTemplates: true, seedModels: false },
      });
      await waitForStatus(handle, (s) => s.stageIndex === 1, 'stage 2 (50%)', 90_000);
      // The migration ran (the fault hits a rollout whose data changed).
      expect((await allRows(database.db)).some((r) => r.key === 'maxTokens')).toBe(false);
      expect((await service.setFault(0.5)).status).toBe(200);
      const result = await finalStatus(handle);
      expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0 });
      expect(result.error).toMatch(/gate_failed: gate compare at stage 2 \(50%\)/);
      expect(await flagPercent(temporal.unleash, flag)).toBe(0);

      // Every table is back as its backup recorded it, row for row.
      for (const backup of result.backups) {
        const table = backup.sourceTable as keyof typeof before;
        const now = await fingerprintTable(database.db, table);
        expect({ table, ...now }).toEqual({ table, rowCount: backup.rowCount, checksum: backup.checksum });
        expect(now).toEqual(before[table]);
      }
      expect(result.backups.map((b) => b.sourceTable).sort()).toEqual(['prompt_templates', 'runtime_config']);
      expect(await allRows(database.db)).toEqual(rowsBefore);
      const kinds = (await listAuditEvents(database.db, rolloutId)).map((e) => e.kind);
      expect(kinds.indexOf('gate_failed')).toBeLessThan(kinds.indexOf('flag_rolled_back'));
      expect(kinds.indexOf('flag_rolled_back')).toBeLessThan(kinds.indexOf('keys_restored'));
    });
  } finally {
    await service.setFault(0);
    await service.close();
  }
});
