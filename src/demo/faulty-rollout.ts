import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditEvents } from '../../db/audit-events';
import type { Database } from '../../db/schema';
import type { GateMeasurement } from '../gates/gate-measurement';
import { createProgram } from '../cli/main';
import { newRolloutId } from '../cli/new-rollout-id';
import type { Env } from '../config/env';
import { statusQuery } from '../../workflows/rollout-messages';
import type { RolloutStatus } from '../../workflows/rollout-status';
import type { DemoTraffic } from './demo-traffic';

export interface FaultyRolloutOptions {
  env: Env;
  db: Kysely<Database>;
  planFile: string;
  traffic: DemoTraffic;
  /** The config service's fault switch: the unified path fails this fraction of requests. */
  setFault(rate: number): Promise<void>;
  faultRate: number;
  write(text: string): void;
}

/** What the second rollout showed; `problems` is empty when the gate rolled the fault back as it should. */
export interface FaultyRolloutReport {
  rolloutId: string;
  outcome: string;
  problems: string[];
}

/** The service's flag client polls every second: this long without a unified answer means all are legacy. */
const QUIET_MS = 3_000;
const QUIET_DEADLINE_MS = 20_000;

const seconds = (ms: number): string => `${(ms / 1_000).toFixed(2)} s`;
const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 23);

/**
 * The demo's second rollout: `rollout start <plan> --watch` through the CLI, while a driver turns the service's
 * fault switch on the moment Unleash confirms 50 %. The compare gate must notice and roll the flag back to 0 %
 * by itself. A rolled-back rollout is the expected end here, so the CLI's exit code 1 for it is read and
 * cleared, and the outcome checked from the workflow's result. Then it prints the decisive measurement (from
 * the audit log) and the times from the fault to the gate's verdict, to the flag at 0 % confirmed by Unleash,
 * and to the last answer the load got from the unified path (the service's `x-config-path` header).
 */
export async function runFaultyRollout(options: FaultyRolloutOptions): Promise<FaultyRolloutReport> {
  const { env, db, traffic, write } = options;
  const rolloutId = newRolloutId();
  const problems: string[] = [];
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, connectTimeout: 5_000 });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const handle = client.workflow.getHandle(rolloutId);
  let faultOnAt: number | null = null;
  let totalsAtFault = traffic.totals();
  try {
    // The driver: waits for the rollout the CLI starts to reach 50 % (confirmed), then switches the fault on.
    let stopDriver = false;
    const driver = (async () => {
      while (!stopDriver) {
        let status: RolloutStatus;
        try {
          status = await handle.query(statusQuery);
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) {
            await sleep(100);
            continue;
          }
          throw error;
        }
        if (status.outcome !== 'running') return;
        if (status.stageIndex === 1 && status.percent === 50) {
          totalsAtFault = traffic.totals();
          faultOnAt = Date.now();
          await options.setFault(options.faultRate);
          write(
            `\n>> ${clock(faultOnAt)}  Unleash confirms 50 %: fault switch ON, ${options.faultRate * 100} % of unified-path requests now fail\n\n`,
          );
          return;
        }
        await sleep(100);
      }
    })();

    try {
      await createProgram().parseAsync([
        'node',
        'rollout',
        'start',
        options.planFile,
        '--id',
        rolloutId,
        '--watch',
      ]);
    } finally {
      stopDriver = true;
    }
    // `start --watch` exits 1 for anything but completed; here rolled_back is the point, checked below.
    const cliExit = Number(process.exitCode ?? 0);
    process.exitCode = undefined;
    await driver;

    const result = (await handle.result()) as RolloutStatus;
    if (cliExit !== 1)
      problems.push(`rollout start --watch exited ${cliExit}, expected 1 for a rolled-back rollout`);
    if (faultOnAt === null) {
      problems.push('the rollout never reached 50 %, so the fault switch never went on');
      return { rolloutId, outcome: result.outcome, problems };
    }
    if (result.outcome !== 'rolled_back') problems.push(`outcome ${result.outcome}, expected rolled_back`);
    // The cause reads "rollback requested by gate:<name>: gate_failed: gate <name> at stage 2 (50%), …".
    if (!/gate_failed: gate \S+ at stage 2 /.test(result.error ?? ''))
      problems.push(`the rollback was not a gate's at 50 %: ${result.error ?? 'no cause recorded'}`);
    if (result.percent !== 0) problems.push(`the flag ended at ${result.percent} %, not 0 %`);

    // Every client on legacy: the load gets no unified answer for a few of the service's refresh intervals.
    const quietDeadline = Date.now() + QUIET_DEADLINE_MS;
    while (Date.now() - (traffic.lastUnifiedAt() ?? 0) < QUIET_MS && Date.now() < quietDeadline) {
      await sleep(100);
    }
    const totalsQuiet = traffic.totals();
    await options.setFault(0);
    const lastUnified = traffic.lastUnifiedAt();
    if (lastUnified === null || Date.now() - lastUnified < QUIET_MS)
      problems.push(
        `the load still got unified-path answers ${seconds(QUIET_DEADLINE_MS)} after the rollback`,
      );

    const audit = await listAuditEvents(db, rolloutId);
    const gateFailed = audit.find((e) => e.kind === 'gate_failed');
    const flagZero = audit.find((e) => e.kind === 'flag_rolled_back');
    const decisive = gateFailed
      ? audit.find((e) => e.dedupe_key === gateFailed.details.measurementKey)
      : undefined;
    if (!gateFailed) problems.push('no gate_failed row in the audit log');
    if (!flagZero) problems.push('no flag_rolled_back row in the audit log');

    const faultOn: number = faultOnAt;
    const firstError = traffic.firstErrorSince(faultOn);
    const row = (label: string, at: number | null | undefined, note = ''): string =>
      `   ${label.padEnd(60)} ${at == null ? 'n/a' : `${`+${seconds(at - faultOn)}`.padStart(8)}  ${clock(at)}`}${note}\n`;
    write('\n== what the gate did\n');
    if (gateFailed && decisive) {
      const m = decisive.details as unknown as GateMeasurement & { stage: number; percent: number };
      write(
        `   decided by ${decisive.actor} at stage ${m.stage} (${m.percent} %): ${m.verdict}, evidence ` +
          `${m.value === null ? 'none' : m.value.toPrecision(3)} against the threshold ${m.threshold ?? 'none'} (1/alpha), ` +
          `sample ${m.sample ?? 'none'}\n     ${m.detail}\n`,
      );
    }
    const before = totalsAtFault;
    write(
      row('fault switch on (Unleash had confirmed 50 %)', faultOn) +
        row('→ first 5xx answer to the load', firstError) +
        row('→ the decisive measurement (audit gate_measurement)', decisive?.at.getTime()) +
        row('→ gate_failed (audit)', gateFailed?.at.getTime()) +
        row('→ flag at 0 % confirmed by Unleash (audit flag_rolled_back)', flagZero?.at.getTime()) +
        row(
          '→ last unified-path answer to the load (x-config-path)',
          lastUnified,
          lastUnified === null
            ? ''
            : `  (none in the ${seconds(Date.now() - lastUnified)} since: all on legacy)`,
        ) +
        `   load from fault on until then: ${totalsQuiet.requests - before.requests} reads answered, ` +
        `${totalsQuiet.errors - before.errors} with a 5xx (${totalsQuiet.unified - before.unified} served by ` +
        `unified, ${totalsQuiet.legacy - before.legacy} by legacy)\n`,
    );
    return { rolloutId, outcome: result.outcome, problems };
  } finally {
    // Whatever went wrong, the demo's service is not left failing requests.
    if (faultOnAt !== null) await options.setFault(0).catch(() => undefined);
    await connection.close();
  }
}
