import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import { setConfig } from '../../db/runtime-config-queries';
import { readEnv, type Env } from '../../src/config/env';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { UnleashAdminClient } from '../../src/unleash/unleash-admin-client';
import { RolloutWorkflow, statusQuery } from '../../workflows';
import { finalStatus, flagPercent, waitForStatus } from '../helpers/rollout-test-helpers';
import {
  archiveFlag,
  setFlagPercent,
  startOwnUnleash,
  uniqueFlagName,
  type OwnUnleash,
} from '../helpers/service-unleash';
import { startServiceUnderLoad, type ServiceUnderLoad } from '../helpers/service-under-load';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

/**
 * Issue 9, must-show 7: Unleash stopped in the middle of a ramp. The rollout's worker and the config service
 * talk to an Unleash of this test's own (stopped and started again here; the shared one is never touched).
 * While it is down no stage advances (the status stays at the last stage Unleash confirmed, no
 * `stage_reached`); a gate failure while it is down keeps retrying the flag-to-0, and the status says so with
 * the last error, until Unleash is back and confirms 0 %; with no failure the rollout finishes once Unleash is
 * back.
 */

let env: Env;
let unleash: OwnUnleash;
let admin: UnleashAdminClient;
let database: TestDatabase;
let temporal: TestTemporal;

beforeAll(async () => {
  env = readEnv();
  unleash = await startOwnUnleash(env);
  admin = new UnleashAdminClient({ url: unleash.url, adminToken: env.UNLEASH_ADMIN_TOKEN });
  database = await createTestDatabase('unleash_down_ramp');
  await setConfig(database.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
  temporal = await connectTestTemporal('unleash-down');
}, 180_000);

afterAll(async () => {
  await temporal?.close();
  await unleash?.dispose();
  await database?.drop();
});

/**
 * Waits until the `compare` gate passed a measurement at `stage` (1-based): the service has routed users to
 * both paths by that stage's flag state, so it keeps doing so from its last known state once Unleash is down.
 */
async function untilComparePassed(rolloutId: string, stage: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const audit = await listAuditEvents(database.db, rolloutId);
    const passed = audit.some(
      (e) => e.kind === 'gate_measurement' && e.details.stage === stage && e.details.verdict === 'pass',
    );
    if (passed) return;
    if (Date.now() > deadline) throw new Error(`no passing compare measurement at stage ${stage}`);
    await sleep(200);
  }
}

/** Starts our Unleash again and prints how long that took. */
async function restartUnleash(): Promise<Date> {
  const startedAt = Date.now();
  await unleash.start();
  process.stdout.write(`own Unleash answered again ${Date.now() - startedAt} ms after its start\n`);
  return new Date();
}

/** Stops our Unleash and proves it: the process is gone and its port refuses connections. */
async function stopUnleash(): Promise<Date> {
  await unleash.stop();
  expect(unleash.isRunning()).toBe(false);
  const refused = await fetch(`${unleash.url}/health`).then(
    () => 'answered',
    (error: unknown) => (error as { cause?: { code?: string } }).cause?.code ?? String(error),
  );
  expect(refused).toBe('ECONNREFUSED');
  return new Date();
}

function plan(flag: string, service: ServiceUnderLoad, soaks: [string, string]): RolloutPlanInput {
  return {
    flag,
    unleash: { project: 'default', environment: 'development' },
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    stages: [
      { percent: 10, soak: soaks[0], gates: ['compare'] },
      { percent: 50, soak: soaks[1], gates: ['compare'] },
      { percent: 100, soak: '0s' },
    ],
    gates: {
      compare: {
        provider: 'compare',
        endpoint: `${service.harness.url}/metrics`,
        interval: '1s',
        minSample: 5,
        inconclusiveLimit: '60s',
      },
    },
  };
}

async function withRollout(
  label: string,
  soaks: [string, string],
  run: (rollout: {
    flag: string;
    rolloutId: string;
    service: ServiceUnderLoad;
    handle: Awaited<ReturnType<typeof temporal.client.workflow.start<typeof RolloutWorkflow>>>;
  }) => Promise<void>,
): Promise<void> {
  const flag = uniqueFlagName(label);
  await setFlagPercent(env, flag, 0, unleash.url);
  const service = await startServiceUnderLoad({
    databaseUrl: database.url,
    flag,
    unleashUrl: unleash.url,
    load: true,
  });
  try {
    await temporal.withWorker(
      database.db,
      async () => {
        const rolloutId = `r-unleash-down-${uniqueSuffix()}`;
        const handle = await temporal.client.workflow.start(RolloutWorkflow, {
          workflowId: rolloutId,
          taskQueue: temporal.taskQueue,
          args: [{ rolloutId, plan: plan(flag, service, soaks), requestedBy: 'jest@test' }],
          typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
        });
        await run({ flag, rolloutId, service, handle });
      },
      { unleash: admin },
    );
  } finally {
    await service.setFault(0).catch(() => undefined);
    await service.close();
    if (!unleash.isRunning()) await unleash.start();
    await archiveFlag(env, flag, unleash.url);
  }
}

test('Unleash down between stages: no stage advances unconfirmed; once it is back the rollout finishes', async () => {
  await withRollout('down-advance', ['10s', '3s'], async ({ flag, rolloutId, handle }) => {
    await waitForStatus(handle, (s) => s.stageIndex === 0 && s.soakEndsAt !== null, 'stage 1 soaking');
    await untilComparePassed(rolloutId, 1);
    const stoppedAt = await stopUnleash();

    // The gates still pass stage 1 (the service routes by the flag state it last saw), but stage 2 needs
    // Unleash: the rollout waits at stage 1 and says why.
    const waiting = await waitForStatus(
      handle,
      (s) => s.events.some((e) => e.kind === 'unleash_unreachable'),
      'the wait for Unleash before stage 2',
    ).catch(async (error: unknown) => {
      const status = await handle.query(statusQuery);
      const audit = await listAuditEvents(database.db, rolloutId);
      throw new Error(
        `${String(error)}\nstatus: ${JSON.stringify({ gates: status.gates, events: status.events.slice(-5) })}\naudit: ${audit
          .map((e) => `${e.kind}:${JSON.stringify(e.details).slice(0, 200)}`)
          .slice(-8)
          .join('\n')}`,
      );
    });
    expect(waiting).toMatchObject({ stageIndex: 0, percent: 10, outcome: 'running', phase: 'ramp' });
    const event = waiting.events.find((e) => e.kind === 'unleash_unreachable')!;
    expect(event.message).toMatch(
      /^stage 2 \(50%\) waits for Unleash: \d+ attempts to .* failed since .*ECONNREFUSED/,
    );
    expect(waiting.operatorAction).toMatch(/Unleash does not answer .*ECONNREFUSED.*stage 2 \(50%\)/);
    process.stdout.write(`status while Unleash is down: ${event.message}\n`);
    // Still at stage 1 a while later; nothing was confirmed while Unleash was down.
    await sleep(3_000);
    expect(await handle.query(statusQuery)).toMatchObject({ stageIndex: 0, percent: 10, outcome: 'running' });
    const whileDown = await listAuditEvents(database.db, rolloutId);
    const downKinds = whileDown.map((e) => e.kind);
    expect(downKinds.indexOf('gates_passed')).toBeGreaterThanOrEqual(0);
    expect(downKinds.indexOf('gates_passed')).toBeLessThan(downKinds.indexOf('unleash_unreachable'));
    expect(whileDown.filter((e) => e.kind === 'stage_reached').map((e) => e.details.stage)).toEqual([1]);
    expect(whileDown.every((e) => e.kind !== 'stage_reached' || e.at < stoppedAt)).toBe(true);
    expect(unleash.isRunning()).toBe(false);

    const backAt = await restartUnleash();
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'completed', percent: 100, stageIndex: 2, operatorAction: null });
    expect(await flagPercent(admin, flag)).toBe(100);
    const audit = await listAuditEvents(database.db, rolloutId);
    const reached = audit.filter((e) => e.kind === 'stage_reached');
    expect(reached.map((e) => e.details.stage)).toEqual([1, 2, 3]);
    // Stages 2 and 3 were confirmed only after Unleash was back.
    expect(reached.slice(1).every((e) => e.at > backAt)).toBe(true);
    expect(audit.filter((e) => e.kind === 'gates_passed')).toHaveLength(2);
  });
});

test('a gate failure while Unleash is down keeps retrying the flag-to-0, the status says so; once Unleash is back it rolls back', async () => {
  await withRollout('down-rollback', ['3s', '90s'], async ({ flag, rolloutId, service, handle }) => {
    await waitForStatus(
      handle,
      (s) => s.stageIndex === 1 && s.soakEndsAt !== null,
      'stage 2 (50%) soaking',
      60_000,
    );
    await untilComparePassed(rolloutId, 2);
    const stoppedAt = await stopUnleash();
    await service.setFault(0.5);

    const retrying = await waitForStatus(
      handle,
      (s) => s.events.some((e) => e.kind === 'flag_rollback_retrying'),
      'the flag-to-0 retrying',
      60_000,
    );
    // Rolling back, but Unleash has not confirmed 0 %: the status keeps the confirmed 50 % and says why.
    expect(retrying).toMatchObject({ phase: 'rollback', outcome: 'running', percent: 50, stageIndex: 1 });
    expect(retrying.error).toMatch(/gate_failed: gate compare at stage 2 \(50%\)/);
    const event = retrying.events.find((e) => e.kind === 'flag_rollback_retrying')!;
    expect(event.message).toMatch(
      /Unleash has not confirmed the flag at 0% yet: \d+ attempts failed since .*, the last with: .*ECONNREFUSED/,
    );
    expect(retrying.operatorAction).toMatch(/not confirmed at 0% yet .*ECONNREFUSED/);
    process.stdout.write(`status while Unleash is down: ${event.message}\n`);

    // Still retrying a while later: nothing claims 0 % while Unleash is down.
    await sleep(4_000);
    const later = await handle.query(statusQuery);
    expect(later).toMatchObject({ phase: 'rollback', outcome: 'running', percent: 50 });
    expect(later.events.filter((e) => e.kind === 'flag_rollback_retrying')).toHaveLength(1);
    const downAudit = await listAuditEvents(database.db, rolloutId);
    const kinds = downAudit.map((e) => e.kind);
    expect(kinds.indexOf('gate_failed')).toBeLessThan(kinds.indexOf('flag_rollback_retrying'));
    expect(kinds).not.toContain('flag_rolled_back');
    expect(downAudit.find((e) => e.kind === 'flag_rollback_retrying')!.at > stoppedAt).toBe(true);
    expect(unleash.isRunning()).toBe(false);

    const backAt = await restartUnleash();
    const result = await finalStatus(handle);
    expect(result).toMatchObject({ outcome: 'rolled_back', percent: 0, operatorAction: null });
    expect(await flagPercent(admin, flag)).toBe(0);
    const audit = await listAuditEvents(database.db, rolloutId);
    const rolledBack = audit.find((e) => e.kind === 'flag_rolled_back')!;
    expect(rolledBack.at > backAt).toBe(true);
    expect(audit.filter((e) => e.kind === 'stage_reached').map((e) => e.details.stage)).toEqual([1, 2]);
    expect(audit.at(-1)!.kind).toBe('rolled_back');
  });
});
