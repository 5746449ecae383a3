import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import type { RolloutActivities } from '../activities';
import type { RecordEventInput } from '../activities/record-event';
import { ROLLOUT_ID } from '../src/plan/rollout-id';
import { parseRolloutPlan, PlanError, type RolloutPlan } from '../src/plan/rollout-plan';
import { ROLLOUT_PERCENT, ROLLOUT_PHASE } from '../src/temporal/search-attributes';
import { actorOf, OperatorControls, type OperatorAction, type OperatorRequest } from './operator-controls';
import {
  approveSignal,
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  rollbackSignal,
  rollbackUpdate,
  statusQuery,
} from './rollout-messages';
import type { RolloutInput, RolloutPhase, RolloutStatus } from './rollout-status';
import { workflowNowIso } from './workflow-clock';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;

/** Short calls (Unleash, bookkeeping): retried until they succeed or fail for good (non-retryable). */
const calls = proxyActivities<RolloutActivities>({ startToCloseTimeout: '1 minute', retry });
/** Data phases: long, heartbeating, so a killed worker is noticed within the heartbeat timeout. */
const dataPhases = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '15s',
  retry,
});

const MAX_EVENTS = 100;

interface Phase {
  name: RolloutPhase;
  /** Off when the plan leaves the phase out. */
  enabled?: boolean;
  /** Registered before `run` starts, so a failure or cancellation mid-phase still undoes it. */
  compensate?: () => Promise<void>;
  run: () => Promise<void>;
}

function parsePlanOrFail(input: RolloutInput): RolloutPlan {
  if (!ROLLOUT_ID.test(input.rolloutId)) {
    throw ApplicationFailure.nonRetryable(
      `rollout id "${input.rolloutId}" must match ${ROLLOUT_ID}`,
      'InvalidPlan',
    );
  }
  try {
    return parseRolloutPlan(input.plan, `for rollout ${input.rolloutId}`);
  } catch (error) {
    if (error instanceof PlanError) throw ApplicationFailure.nonRetryable(error.message, 'InvalidPlan');
    throw error;
  }
}

/**
 * Drives one rollout: preflight → backup → flag ramp → complete. On failure or cancellation the
 * compensations of the phases that started run in reverse (the flag first), then the workflow ends as
 * failed or cancelled.
 */
export async function RolloutWorkflow(input: RolloutInput): Promise<RolloutStatus> {
  const plan = parsePlanOrFail(input);
  const target = { project: plan.unleash.project, environment: plan.unleash.environment, flag: plan.flag };
  const status: RolloutStatus = {
    rolloutId: input.rolloutId,
    flag: plan.flag,
    project: target.project,
    environment: target.environment,
    phase: 'preflight',
    outcome: 'running',
    stages: plan.stages.map((s) => ({ percent: s.percent, soakMs: s.soak, approval: s.approval })),
    stageIndex: null,
    percent: 0,
    soakEndsAt: null,
    preflight: null,
    backups: [],
    keyMigration: null,
    templateMigration: null,
    seeding: null,
    paused: false,
    pausedBy: null,
    awaitingApproval: null,
    events: [],
    error: null,
  };
  setHandler(statusQuery, () => status);

  let claimed = false;
  const note = (kind: string, message: string) => {
    status.events.push({ at: workflowNowIso(), kind, message });
    if (status.events.length > MAX_EVENTS) status.events.splice(0, status.events.length - MAX_EVENTS);
  };
  const record = async (
    event: Omit<RecordEventInput, 'rolloutId' | 'actor'> & { actor?: string },
    message: string,
  ) => {
    note(event.kind, message);
    if (claimed)
      await calls.recordEvent({ rolloutId: input.rolloutId, actor: event.actor ?? 'workflow', ...event });
  };
  const enter = (phase: RolloutPhase) => {
    status.phase = phase;
    upsertSearchAttributes([{ key: ROLLOUT_PHASE, value: phase }]);
  };
  const confirmPercent = (percent: number) => {
    status.percent = percent;
    upsertSearchAttributes([{ key: ROLLOUT_PERCENT, value: percent }]);
  };

  const controls = new OperatorControls();
  let operatorActions = 0;
  const situation = () => ({
    ended: status.outcome !== 'running',
    rollingBack: status.phase === 'rollback',
    awaitingApproval: status.awaitingApproval,
  });
  const operate = async (action: OperatorAction, request: OperatorRequest): Promise<RolloutStatus> => {
    const refusal = controls.refusal(action, situation());
    const actor = actorOf(request);
    if (refusal !== null) {
      // Only signals get here with a refusal (updates are validated first); a signal cannot be answered.
      note(`operator_${action}_ignored`, `${action} from ${actor} ignored: ${refusal}`);
      return status;
    }
    // Recorded first, then applied: the audit log holds every decision before it takes effect.
    const now = situation();
    await record(
      {
        dedupeKey: `operator-${++operatorActions}-${action}`,
        kind: `operator_${action}`,
        actor: actorOf(request),
        details: { reason: request?.reason ?? null, stage: now.awaitingApproval },
      },
      controls.describe(action, request, now),
    );
    controls.apply(action, request, now);
    status.paused = controls.paused;
    status.pausedBy = controls.pausedBy;
    return status;
  };
  const handle = (
    action: OperatorAction,
    signal: SignalDefinition<[OperatorRequest]>,
    update: UpdateDefinition<RolloutStatus, [OperatorRequest]>,
  ) => {
    setHandler(signal, (request) => operate(action, request).then(() => undefined));
    setHandler(update, (request) => operate(action, request), {
      validator: (_request: OperatorRequest) => {
        const refusal = controls.refusal(action, situation());
        if (refusal !== null) throw new Error(`cannot ${action}: ${refusal}`);
      },
    });
  };
  handle('pause', pauseSignal, pauseUpdate);
  handle('resume', resumeSignal, resumeUpdate);
  handle('approve', approveSignal, approveUpdate);
  handle('rollback', rollbackSignal, rollbackUpdate);

  const rollbackRequested = () => controls.rollbackRequest !== null;
  const stopIfRollbackRequested = () => {
    if (controls.rollbackRequest)
      throw new RollbackRequested(controls.rollbackRequest.actor, controls.rollbackRequest.reason);
  };
  /** Between phases and stages: hold while paused; a rollback request ends the hold at once. */
  const checkpoint = async () => {
    stopIfRollbackRequested();
    if (controls.paused) await condition(() => !controls.paused || rollbackRequested());
    stopIfRollbackRequested();
  };

  const phases: Phase[] = [
    {
      name: 'preflight',
      run: async () => {
        await calls.claimRollout({ rolloutId: input.rolloutId, workflowId: workflowInfo().workflowId, plan });
        claimed = true;
        await record(
          { dedupeKey: 'started', kind: 'started', actor: input.requestedBy, details: { plan } },
          `started by ${input.requestedBy}`,
        );
        status.preflight = await calls.preflight(plan);
        await record(
          {
            dedupeKey: 'preflight-passed',
            kind: 'preflight_passed',
            details: { ...status.preflight },
            phase: 'preflight',
          },
          `preflight passed: ${status.preflight.tables.map((t) => `${t.table} ${t.rows} rows`).join(', ')}`,
        );
      },
    },
    {
      name: 'backup',
      run: async () => {
        for (const table of plan.backup.tables) {
          const result = await dataPhases.backupTable({ rolloutId: input.rolloutId, table });
          status.backups.push(result);
          await record(
            {
              dedupeKey: `backup-${table}`,
              kind: 'backup_verified',
              details: { ...result },
              phase: 'backup',
            },
            `${result.reused ? 'reused' : 'made'} ${result.backupTable}: ${result.rowCount} rows, checksum verified`,
          );
        }
      },
    },
    {
      name: 'migrate-keys',
      enabled: plan.phases.migrateKeys,
      compensate: async () => {
        const restored = await dataPhases.restoreTable({
          rolloutId: input.rolloutId,
          table: 'runtime_config',
        });
        const summary =
          'skipped' in restored
            ? 'runtime_config: no backup, nothing to restore'
            : `runtime_config restored: ${restored.restored} rows back, ${restored.reinserted} reinserted; kept ${restored.kept.insertedAfterBackup + restored.kept.writtenAfterBackup} written after the backup`;
        await record(
          { dedupeKey: 'keys-restored', kind: 'keys_restored', details: { ...restored } },
          summary,
        );
      },
      run: async () => {
        const report = await dataPhases.migrateKeys({ rolloutId: input.rolloutId });
        status.keyMigration = report;
        await record(
          {
            dedupeKey: 'keys-migrated',
            kind: 'keys_migrated',
            details: { ...report },
            phase: 'migrate-keys',
          },
          `runtime_config: ${report.renamed} keys renamed, ${report.discarded} duplicates discarded (kept in ${report.discardedTable}), unique (key, user_id) in place`,
        );
      },
    },
    {
      name: 'migrate-templates',
      enabled: plan.phases.migrateTemplates,
      compensate: async () => {
        const restored = await dataPhases.restoreTemplates({ rolloutId: input.rolloutId });
        const summary =
          'skipped' in restored
            ? 'prompt_templates: no backup, nothing to restore'
            : `prompt_templates restored: ${restored.restored} back; kept ${restored.kept.insertedAfterBackup + restored.kept.writtenAfterBackup} written after the backup`;
        await record(
          { dedupeKey: 'templates-restored', kind: 'templates_restored', details: { ...restored } },
          summary,
        );
      },
      run: async () => {
        const report = await dataPhases.migrateTemplates({
          rolloutId: input.rolloutId,
          onInvalid: plan.templates.onInvalid,
        });
        status.templateMigration = report;
        await record(
          {
            dedupeKey: 'templates-migrated',
            kind: 'templates_migrated',
            details: { ...report },
            phase: 'migrate-templates',
          },
          `prompt_templates: ${report.migrated} migrated, ${report.unchanged} unchanged, ${report.quarantined} quarantined (left untouched), ${report.conflictsTotal} spelling conflicts`,
        );
      },
    },
    {
      name: 'seed-models',
      enabled: plan.phases.seedModels,
      compensate: async () => {
        const undone = await calls.rollbackModelSeeding({ rolloutId: input.rolloutId });
        await record(
          { dedupeKey: 'seeding-rolled-back', kind: 'seeding_rolled_back', details: { ...undone } },
          `model catalogue: removed ${undone.removed.length}, restored ${undone.restored.length}, kept ${undone.kept.length} changed since`,
        );
      },
      run: async () => {
        const report = await calls.seedModels({ rolloutId: input.rolloutId });
        status.seeding = report;
        await record(
          { dedupeKey: 'models-seeded', kind: 'models_seeded', details: { ...report }, phase: 'seed-models' },
          `model catalogue: ${report.inserted.length} inserted, ${report.updated.length} updated, ${report.unchanged.length} unchanged`,
        );
      },
    },
    {
      name: 'ramp',
      compensate: async () => {
        await calls.setFlagPercent({ target, percent: 0 });
        confirmPercent(0);
        await record(
          { dedupeKey: 'flag-rolled-back', kind: 'flag_rolled_back', details: { percent: 0 }, percent: 0 },
          'flag set to 0% and confirmed',
        );
      },
      run: async () => {
        for (const [index, stage] of plan.stages.entries()) {
          await checkpoint();
          if (stage.approval) {
            status.awaitingApproval = index;
            note(
              'awaiting_approval',
              `stage ${index + 1} (${stage.percent}%) waits for an operator's approval`,
            );
            await condition(() => controls.approved.has(index) || rollbackRequested());
            status.awaitingApproval = null;
            await checkpoint();
          }
          const readback = await calls.setFlagPercent({ target, percent: stage.percent });
          status.stageIndex = index;
          confirmPercent(readback.percent);
          await record(
            {
              dedupeKey: `stage-${index}-reached`,
              kind: 'stage_reached',
              details: { stage: index + 1, percent: readback.percent, strategyId: readback.strategyId },
              phase: 'ramp',
              percent: readback.percent,
            },
            `stage ${index + 1}/${plan.stages.length}: Unleash confirms ${readback.percent}%`,
          );
          if (stage.soak > 0) {
            status.soakEndsAt = workflowNowIso(stage.soak);
            // A rollback request cuts the soak short; a pause lets it finish and holds at the next checkpoint.
            await condition(rollbackRequested, stage.soak);
            status.soakEndsAt = null;
          }
        }
      },
    },
  ];

  const compensations: { phase: RolloutPhase; run: () => Promise<void> }[] = [];
  try {
    for (const phase of phases) {
      if (phase.enabled === false) continue;
      if (phase.name !== 'preflight') await checkpoint();
      enter(phase.name);
      if (phase.compensate) compensations.unshift({ phase: phase.name, run: phase.compensate });
      await phase.run();
    }
    await checkpoint();
    enter('complete');
    status.outcome = 'completed';
    await record(
      {
        dedupeKey: 'completed',
        kind: 'completed',
        details: { percent: status.percent },
        phase: 'complete',
        state: 'completed',
      },
      `completed at ${status.percent}%`,
    );
    return status;
  } catch (error) {
    const cancelled = isCancellation(error);
    const requested = error instanceof RollbackRequested;
    status.error = cancelled ? 'cancelled' : error instanceof Error ? error.message : String(error);
    // Compensation must finish even when the workflow itself is being cancelled.
    await CancellationScope.nonCancellable(async () => {
      if (compensations.length > 0) {
        enter('rollback');
        await record(
          {
            dedupeKey: 'rollback-started',
            kind: 'rollback_started',
            details: { cause: status.error },
            phase: 'rollback',
          },
          `rolling back: ${status.error}`,
        );
        for (const compensation of compensations) await compensation.run();
      }
      status.outcome = cancelled ? 'cancelled' : compensations.length > 0 ? 'rolled_back' : 'failed';
      await record(
        { dedupeKey: 'ended', kind: status.outcome, details: { cause: status.error }, state: status.outcome },
        `ended ${status.outcome}`,
      );
    });
    // An operator's rollback is the workflow doing its job: it ends normally, with outcome rolled_back.
    if (requested) return status;
    throw error;
  }
}

/** Thrown at the next checkpoint after an operator asked for a rollback. */
class RollbackRequested extends Error {
  constructor(actor: string, reason: string) {
    super(`rollback requested by ${actor}: ${reason}`);
    this.name = 'RollbackRequested';
  }
}
