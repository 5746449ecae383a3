import { CancelledFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { temporal as proto } from '@temporalio/proto';
import pino from 'pino';
import type { ActivityClock } from '../../activities/activity-deps';
import { listAuditEvents } from '../../db/audit-events';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { createRolloutWorker } from '../../src/worker/create-rollout-worker';
import { RolloutWorkflow } from '../../workflows';
import { flagPercent, finalStatus } from '../helpers/rollout-test-helpers';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

/**
 * Issue 9, "history stays bounded whatever the soak and interval": a real RolloutWorkflow on the shared
 * Temporal server runs a stage whose one gate measures every second for a soak long enough for more than
 * 1,000 measurements. The real `runStageGates` activity measures with the real `sql` provider on the test
 * database and writes every measurement to the real audit log; only its clock is fast (each 1 s wait takes
 * no real time), so the soak's 1,100 s pass in well under a minute. The workflow's history stays under the
 * bounds below, and the run never had to continue as new to get there.
 */

/**
 * The most events a rollout of one gated stage and one plain stage may have, whatever its soak and interval.
 * The history holds a fixed number of events per stage (the flag write and its audit rows, one
 * `runStageGates` activity: scheduled, started, completed, and the workflow tasks around them) and none per
 * measurement: each measurement is an audit row the activity writes to Postgres, the running tallies travel
 * in its heartbeats (which the server keeps as the latest details, never as events), and its result is a
 * bounded summary (counts and the last MAX_SUMMARY_MEASUREMENTS per gate). So the figure depends on the number
 * of stages and gates, never on how many measurements a soak takes.
 */
const GATED_ROLLOUT_HISTORY_EVENTS_BOUND = 200;
/** The same bound in bytes of history, for the same reason: about 60 KB today, a 256 KiB ceiling. */
const GATED_ROLLOUT_HISTORY_BYTES_BOUND = 256 * 1024;

/** Measurements the soak must take: "1,000+" in the issue. */
const MIN_MEASUREMENTS = 1_000;
/** 1,100 one-second intervals of the fast clock. */
const SOAK_SECONDS = 1_100;

/**
 * Real time plus whatever the soak has waited: a wait advances the clock by its length at once and yields to
 * the event loop, so measuring (the real query, the real audit insert) is what takes the time.
 */
function fastClock(): ActivityClock & { skippedMs: () => number } {
  let skipped = 0;
  return {
    now: () => Date.now() + skipped,
    sleep: async (ms, signal) => {
      skipped += ms;
      await new Promise((resolve) => setImmediate(resolve));
      if (signal.aborted) throw new CancelledFailure('gates cancelled');
    },
    skippedMs: () => skipped,
  };
}

let database: TestDatabase;
let temporal: TestTemporal;

beforeAll(async () => {
  database = await createTestDatabase('gate_history');
  temporal = await connectTestTemporal('history');
});

afterAll(async () => {
  await temporal?.close();
  await database?.drop();
});

test(`a 1 s gate over a soak of ${MIN_MEASUREMENTS}+ measurements keeps the history under ${GATED_ROLLOUT_HISTORY_EVENTS_BOUND} events and ${GATED_ROLLOUT_HISTORY_BYTES_BOUND / 1024} KiB`, async () => {
  const flag = uniqueFlagName('gate-history');
  await setFlagPercent(temporal.env, flag, 0);
  const clock = fastClock();
  const connection = await NativeConnection.connect({ address: temporal.env.TEMPORAL_ADDRESS });
  try {
    const worker = await createRolloutWorker({
      connection,
      namespace: temporal.env.TEMPORAL_NAMESPACE,
      taskQueue: temporal.taskQueue,
      db: database.db,
      unleash: temporal.unleash,
      logger: pino({ level: 'warn' }),
      // The sql gate reads its database URL from the worker's environment by name.
      env: { GATE_DATABASE_URL: database.url },
      clock,
    });
    const rolloutId = `r-history-${uniqueSuffix()}`;
    const plan: RolloutPlanInput = {
      flag,
      unleash: { project: 'default', environment: 'development' },
      phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
      stages: [
        { percent: 10, soak: `${SOAK_SECONDS}s`, gates: ['no-gate-failures'] },
        { percent: 100, soak: '0s' },
      ],
      gates: {
        'no-gate-failures': {
          provider: 'sql',
          databaseUrlEnv: 'GATE_DATABASE_URL',
          query: "select count(*) as value from rollout_audit_events where kind = 'gate_failed'",
          passIf: '<=',
          threshold: 0,
          interval: '1s',
        },
      },
    };
    const started = Date.now();
    const status = await worker.runUntil(async () => {
      const handle = await temporal.client.workflow.start(RolloutWorkflow, {
        workflowId: rolloutId,
        taskQueue: temporal.taskQueue,
        args: [{ rolloutId, plan, requestedBy: 'jest@test' }],
        typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
      });
      return finalStatus(handle);
    });
    const realSeconds = (Date.now() - started) / 1_000;
    expect(status).toMatchObject({ outcome: 'completed', percent: 100, continuedAsNew: 0 });
    expect(status.gates).toMatchObject({ stage: 1, outcome: 'passed' });
    expect(await flagPercent(temporal.unleash, flag)).toBe(100);

    const audit = await listAuditEvents(database.db, rolloutId);
    const measurements = audit.filter(
      (e) => e.kind === 'gate_measurement' && e.details.stage === 1 && e.details.gate === 'no-gate-failures',
    );
    expect(measurements.length).toBeGreaterThanOrEqual(MIN_MEASUREMENTS);
    expect(measurements.every((e) => e.details.verdict === 'pass' && e.details.value === 0)).toBe(true);
    // The fast clock stood in for the soak: most of its 1,100 s were skipped, not waited (the rest is the real
    // time measuring took, since the fast clock is real time plus what it skipped).
    expect(clock.skippedMs()).toBeGreaterThanOrEqual(SOAK_SECONDS * 1_000 * 0.8);

    const handle = temporal.client.workflow.getHandle(rolloutId);
    const description = await handle.describe();
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const encodedBytes = proto.api.history.v1.History.encode(history).finish().length;
    const activities = events.filter((e) => e.activityTaskScheduledEventAttributes).length;
    console.log(
      `gate history bound: ${measurements.length} measurements (${clock.skippedMs() / 1_000} s of soak in ${realSeconds.toFixed(1)} s real); ` +
        `history ${description.historyLength} events, ${description.historySize} bytes (server), ` +
        `${events.length} events / ${encodedBytes} bytes fetched, ${activities} activities scheduled; ` +
        `bounds ${GATED_ROLLOUT_HISTORY_EVENTS_BOUND} events, ${GATED_ROLLOUT_HISTORY_BYTES_BOUND} bytes`,
    );
    expect(description.historyLength).toBeLessThan(GATED_ROLLOUT_HISTORY_EVENTS_BOUND);
    expect(events.length).toBeLessThan(GATED_ROLLOUT_HISTORY_EVENTS_BOUND);
    expect(description.historySize ?? Number.POSITIVE_INFINITY).toBeLessThan(
      GATED_ROLLOUT_HISTORY_BYTES_BOUND,
    );
    expect(encodedBytes).toBeLessThan(GATED_ROLLOUT_HISTORY_BYTES_BOUND);
    // The measurements are not in the history: far fewer activities than measurements.
    expect(activities).toBeLessThan(measurements.length / 10);
  } finally {
    await connection.close();
    await archiveFlag(temporal.env, flag);
  }
}, 300_000);
