import { workflowInfo } from '@temporalio/workflow';
import { calls } from '../activity-proxies';
import type { SagaStep } from '../saga-runner';
import type { PhaseContext } from './phase-context';

/**
 * SPEC §5 phase 1: claims the rollout (one per flag and environment), records who started it, and checks
 * what the rollout depends on. Changes nothing, so it has no compensation.
 */
export function preflightPhase({ input, plan, status, journal }: PhaseContext): SagaStep {
  return {
    name: 'preflight',
    run: async () => {
      await calls.claimRollout({ rolloutId: input.rolloutId, workflowId: workflowInfo().workflowId, plan });
      journal.markClaimed();
      await journal.record(
        { dedupeKey: 'started', kind: 'started', actor: input.requestedBy, details: { plan } },
        `started by ${input.requestedBy}`,
      );
      const report = await calls.preflight(plan);
      status.preflight = report;
      const tables = report.tables.map((t) => `${t.table} ${t.rows} rows`).join(', ');
      await journal.recordReport(
        'preflight',
        { dedupeKey: 'preflight-passed', kind: 'preflight_passed' },
        report,
        `preflight passed: ${tables}`,
      );
    },
  };
}
