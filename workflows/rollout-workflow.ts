import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setDefaultSignalHandler,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import type { RolloutActivities } from '../activities';
import type { RecordEventInput } from '../activities/rollout-record/record-event-activity';
import { ROLLOUT_ID } from '../src/plan/rollout-id';
import { parseRolloutPlan, PlanError, type RolloutPlan } from '../src/plan/rollout-plan';
import { ROLLOUT_PERCENT, ROLLOUT_PHASE } from '../src/temporal/search-attributes';
import { ContinueAsNewNeeded, describeHistory, historyNearLimit } from './history-budget';
import { OperatorControls, type OperatorAction } from './operator-controls';
import { boundedText, readOperatorRequest, type OperatorRequest } from './operator-request';
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
import {
  MAX_EVENT_MESSAGE_CHARS,
  MAX_IGNORED_MESSAGE_CHARS,
  MAX_IGNORED_SHOWN,
  MAX_STATUS_EVENTS,
  type CarriedRollback,
  type CarriedState,
  type OperatorAnswer,
  type RolloutInput,
  type RolloutPhase,
  type RolloutStatus,
} from './rollout-status';
import { workflowNowIso, workflowNowMs } from './workflow-clock';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;

/**
 * Short calls (Unleash, bookkeeping): retried until they succeed or fail for good (non-retryable). The
 * flag-to-0 step of a rollback uses these too: nothing else makes users safe, so it never gives up.
 */
const calls = proxyActivities<RolloutActivities>({ startToCloseTimeout: '1 minute', retry });
/**
 * Data phases: long, heartbeating, so a killed worker is noticed within the heartbeat timeout. A cancelled
 * phase is waited for until it has stopped, so nothing runs after it (a restore, or the next run's rerun).
 */
const dataPhases = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '15s',
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
/**
 * Data compensations: a bounded number of attempts (about 8 minutes of retries), so a restore that keeps
 * failing is reported as left undone and the rest of the rollback still runs.
 */
const restores = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '15s',
  retry: { ...retry, maximumAttempts: 20 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
/**
 * Audit writes made for an operator message: a few attempts only, so a message whose record cannot be written
 * is refused instead of holding its handler (and so the hand-over to a new run) forever.
 */
const operatorAudit = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { ...retry, maximumAttempts: 5 },
});
const boundedCalls = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 minute',
  retry: { ...retry, maximumAttempts: 20 },
});

const MAX_IGNORED_PER_AUDIT_ROW = 20;
const MAX_UNRECORDED_IGNORED = 100;

const PHASE_ORDER: readonly RolloutPhase[] = [
  'preflight',
  'backup',
  'migrate-keys',
  'migrate-templates',
  'seed-models',
  'ramp',
];

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
      `rollout id "${String(input.rolloutId).slice(0, 100)}" must match ${ROLLOUT_ID}`,
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

/** The message that says what went wrong: an activity's own error, not the wrapper's "Activity task failed". */
const errorText = (error: unknown) => {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  return boundedText(cause instanceof Error ? cause.message : String(cause), MAX_EVENT_MESSAGE_CHARS);
};

function initialStatus(input: RolloutInput, plan: RolloutPlan): RolloutStatus {
  return {
    rolloutId: input.rolloutId,
    flag: plan.flag,
    project: plan.unleash.project,
    environment: plan.unleash.environment,
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
    ignored: { count: 0, last: [] },
    error: null,
    rollbackFailures: [],
    operatorAction: null,
    continuedAsNew: 0,
  };
}

/**
 * Drives one rollout: preflight → backup → key migration → template migration → model seeding → flag ramp →
 * complete. On failure, cancellation or an operator's rollback, the compensations of the phases that started
 * run in reverse (the flag first); each runs even when an earlier one failed, and a rollback that could not
 * finish ends as `rollback_failed` with what is left undone. Operator messages are checked at the boundary
 * and never copied unbounded; when the history grows large the rollout continues as new with its state.
 */
export async function RolloutWorkflow(input: RolloutInput): Promise<RolloutStatus> {
  const plan = parsePlanOrFail(input);
  const carried: CarriedState | undefined = input.carried;
  const target = { project: plan.unleash.project, environment: plan.unleash.environment, flag: plan.flag };
  const status: RolloutStatus = carried ? carried.status : initialStatus(input, plan);
  const controls = OperatorControls.from(carried?.controls);
  const finished = new Set<RolloutPhase>(carried?.finished ?? []);
  let current: RolloutPhase | null = carried?.current ?? null;
  let rampAt = carried?.ramp ?? null;
  let rollback: CarriedRollback | null = carried?.rollback ?? null;
  const runId = workflowInfo().runId;
  setHandler(statusQuery, () => status);

  let claimed = carried !== undefined;
  const note = (kind: string, message: string) => {
    status.events.push({
      at: workflowNowIso(),
      kind,
      message: boundedText(message, MAX_EVENT_MESSAGE_CHARS),
    });
    if (status.events.length > MAX_STATUS_EVENTS)
      status.events.splice(0, status.events.length - MAX_STATUS_EVENTS);
  };
  const record = async (
    event: Omit<RecordEventInput, 'rolloutId' | 'actor'> & { actor?: string },
    message: string,
    via: Pick<RolloutActivities, 'recordEvent'> = calls,
  ) => {
    note(event.kind, message);
    if (claimed)
      await via.recordEvent({ rolloutId: input.rolloutId, actor: event.actor ?? 'workflow', ...event });
  };
  const enter = (phase: RolloutPhase) => {
    status.phase = phase;
    upsertSearchAttributes([{ key: ROLLOUT_PHASE, value: phase }]);
  };
  const confirmPercent = (percent: number) => {
    status.percent = percent;
    upsertSearchAttributes([{ key: ROLLOUT_PERCENT, value: percent }]);
  };

  // --- Operator messages -------------------------------------------------------------------------------
  // Audit keys carry the run id, so a reset (a new run replaying the same rollout) never collides with the
  // keys of the run it abandoned, and a counter that is deterministic within the run.
  let operatorMessages = 0;
  const situation = () => ({
    ended: status.outcome !== 'running',
    rollingBack: status.phase === 'rollback',
    awaitingApproval: status.awaitingApproval,
  });
  const answer = (): OperatorAnswer => ({
    rolloutId: status.rolloutId,
    phase: status.phase,
    outcome: status.outcome,
    percent: status.percent,
    stageIndex: status.stageIndex,
    paused: status.paused,
    pausedBy: status.pausedBy,
    awaitingApproval: status.awaitingApproval,
  });
  // Refused messages reach the audit log in batches, from outside the handlers: a handler that waited for an
  // activity per message would give a signal flood two workflow tasks per message, and the run could not
  // continue as new between them. The batch waits while the history is near its limit (it is carried over).
  const unrecordedIgnored: string[] = [...(carried?.unrecordedIgnored ?? [])];
  let ignoredBatches = 0;
  let flushing = false;
  const flushIgnored = async () => {
    if (flushing || !claimed) return;
    flushing = true;
    try {
      while (unrecordedIgnored.length > 0 && !handOverDue()) {
        const batch = unrecordedIgnored.slice(0, MAX_IGNORED_PER_AUDIT_ROW);
        await operatorAudit.recordEvent({
          rolloutId: input.rolloutId,
          dedupeKey: `ignored-${runId}-${++ignoredBatches}`,
          kind: 'operator_messages_ignored',
          actor: 'unknown (messages refused)',
          details: { messages: batch },
        });
        unrecordedIgnored.splice(0, batch.length);
      }
    } catch (error) {
      // The messages stay counted in the status; the audit log misses this batch, and says nothing wrong.
      note('audit_write_failed', `refused messages not written to the audit log: ${errorText(error)}`);
      unrecordedIgnored.splice(0, MAX_IGNORED_PER_AUDIT_ROW);
    } finally {
      flushing = false;
    }
  };
  /** Before the run ends: the last batch, after any batch still being written. */
  const flushIgnoredFinally = async () => {
    await condition(() => !flushing);
    await flushIgnored();
  };
  /** A message the workflow will not act on: counted and noted by type and size, never copied. */
  const ignore = (what: string, why: string) => {
    const message = boundedText(`${what} ignored: ${why}`, MAX_IGNORED_MESSAGE_CHARS);
    status.ignored.count += 1;
    status.ignored.last.push({ at: workflowNowIso(), kind: 'ignored', message });
    if (status.ignored.last.length > MAX_IGNORED_SHOWN) status.ignored.last.shift();
    unrecordedIgnored.push(message);
    // Bounded: past this many waiting, the oldest are dropped from the audit log (the count above stays).
    if (unrecordedIgnored.length > MAX_UNRECORDED_IGNORED) unrecordedIgnored.shift();
    void flushIgnored();
  };
  const operate = async (action: OperatorAction, raw: unknown, via: 'signal' | 'update') => {
    const reading = readOperatorRequest(raw);
    if (!reading.ok) {
      // Updates never get here (their validator refused the same payload before history changed).
      ignore(`${action} ${via}`, `${reading.problem} (${reading.payload})`);
      return;
    }
    const refusal = controls.refusal(action, situation());
    if (refusal !== null) {
      // The state moved between an update's validation and its execution; a signal cannot be answered.
      if (via === 'update') throw ApplicationFailure.nonRetryable(`cannot ${action}: ${refusal}`, 'Refused');
      ignore(`${action} signal from ${reading.request.actor}`, refusal);
      return;
    }
    const request = reading.request;
    const now = situation();
    // A rollback takes effect at once, so no stage can advance while its record is being written; every
    // other request is recorded first, then applied: the audit log holds the decision before it acts.
    if (action === 'rollback') controls.apply(action, request, now);
    try {
      await record(
        {
          dedupeKey: `operator-${runId}-${++operatorMessages}-${action}`,
          kind: `operator_${action}`,
          actor: request.actor,
          details: { reason: request.reason, stage: now.awaitingApproval, via },
        },
        controls.describe(action, request, now),
        operatorAudit,
      );
    } catch (error) {
      if (action === 'rollback') return; // already in effect; the rollback's own records follow
      const why = `its audit record could not be written (${errorText(error)})`;
      if (via === 'update') throw ApplicationFailure.nonRetryable(`cannot ${action}: ${why}`, 'Refused');
      ignore(`${action} signal from ${request.actor}`, why);
      return;
    }
    if (action !== 'rollback') controls.apply(action, request, now);
    status.paused = controls.paused;
    status.pausedBy = controls.pausedBy;
  };
  const handle = (
    action: OperatorAction,
    signal: SignalDefinition<[OperatorRequest]>,
    update: UpdateDefinition<OperatorAnswer, [OperatorRequest]>,
  ) => {
    setHandler(signal, (raw: unknown) => operate(action, raw, 'signal'));
    setHandler(
      update,
      async (raw: unknown) => {
        await operate(action, raw, 'update');
        return answer();
      },
      {
        validator: (raw: unknown) => {
          const reading = readOperatorRequest(raw);
          if (!reading.ok) throw new Error(`${action} refused: ${reading.problem}`);
          const refusal = controls.refusal(action, situation());
          if (refusal !== null) throw new Error(`cannot ${action}: ${refusal}`);
        },
      },
    );
  };
  handle('pause', pauseSignal, pauseUpdate);
  handle('resume', resumeSignal, resumeUpdate);
  handle('approve', approveSignal, approveUpdate);
  handle('rollback', rollbackSignal, rollbackUpdate);
  // Without this, a signal nobody handles would be buffered in memory for the rest of the run.
  setDefaultSignalHandler((signalName: string) =>
    ignore(`signal "${boundedText(signalName, 64)}"`, 'no such signal (pause, resume, approve, rollback)'),
  );

  // --- Waiting without letting the history grow past its limit ----------------------------------------
  // A cancelled rollout compensates to the end in this run: a cancel request does not survive a hand-over.
  let mayHandOver = true;
  const handOverDue = () => mayHandOver && historyNearLimit();
  const rollbackRequested = () => controls.rollbackRequest !== null;
  const stopIfRollbackRequested = () => {
    if (controls.rollbackRequest)
      throw new RollbackRequested(controls.rollbackRequest.actor, controls.rollbackRequest.reason);
  };
  /** Waits for `ready` (or the timeout); hands over to a new run instead when the history nears its limit. */
  const waitFor = async (ready: () => boolean, timeoutMs?: number) => {
    const wake = () => ready() || handOverDue();
    await (timeoutMs === undefined ? condition(wake) : condition(wake, timeoutMs));
    if (!ready() && handOverDue()) throw new ContinueAsNewNeeded();
  };
  /** Between phases and stages: hold while paused; a rollback request ends the hold at once. */
  const checkpoint = async () => {
    stopIfRollbackRequested();
    if (controls.paused) await waitFor(() => !controls.paused || rollbackRequested());
    stopIfRollbackRequested();
  };
  /**
   * Runs a long activity; if the history nears its limit meanwhile (a signal flood), cancels it, waits until
   * it has stopped, and hands over to a new run, which reruns the phase (phases are idempotent).
   */
  const watched = async <T>(start: () => Promise<T>): Promise<T> => {
    if (handOverDue()) throw new ContinueAsNewNeeded();
    const scope = new CancellationScope();
    const outcome = scope.run(start).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    let settled = false;
    void outcome.then(() => (settled = true));
    // Not cancellable itself: on a workflow cancel the activity is cancelled and this waits until it stopped.
    await CancellationScope.nonCancellable(() => condition(() => settled || handOverDue()));
    const handOver = !settled;
    if (handOver) scope.cancel();
    const result = await outcome;
    if (result.ok) return result.value;
    if (handOver && isCancellation(result.error)) throw new ContinueAsNewNeeded();
    throw result.error;
  };

  // --- Phases --------------------------------------------------------------------------------------------
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
          const result = await watched(() => dataPhases.backupTable({ rolloutId: input.rolloutId, table }));
          status.backups = [...status.backups.filter((b) => b.sourceTable !== result.sourceTable), result];
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
        const restored = await watched(() =>
          restores.restoreTable({ rolloutId: input.rolloutId, table: 'runtime_config' }),
        );
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
        const report = await watched(() => dataPhases.migrateKeys({ rolloutId: input.rolloutId }));
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
        const restored = await watched(() => restores.restoreTemplates({ rolloutId: input.rolloutId }));
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
        const report = await watched(() =>
          dataPhases.migrateTemplates({ rolloutId: input.rolloutId, onInvalid: plan.templates.onInvalid }),
        );
        // The item lists stay in Postgres (quarantine, ledger) and the audit log; the status keeps counts.
        const { conflicts: _c, unknownFields: _u, quarantine: _q, ...summary } = report;
        status.templateMigration = summary;
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
        const undone = await boundedCalls.rollbackModelSeeding({ rolloutId: input.rolloutId });
        await record(
          { dedupeKey: 'seeding-rolled-back', kind: 'seeding_rolled_back', details: { ...undone } },
          `model catalogue: removed ${undone.removed.length}, restored ${undone.restored.length}, kept ${undone.kept.length} changed since`,
        );
      },
      run: async () => {
        const report = await calls.seedModels({ rolloutId: input.rolloutId });
        status.seeding = {
          inserted: report.inserted.length,
          updated: report.updated.length,
          unchanged: report.unchanged.length,
        };
        await record(
          { dedupeKey: 'models-seeded', kind: 'models_seeded', details: { ...report }, phase: 'seed-models' },
          `model catalogue: ${report.inserted.length} inserted, ${report.updated.length} updated, ${report.unchanged.length} unchanged`,
        );
      },
    },
    {
      name: 'ramp',
      compensate: async () => {
        note('flag_rollback', 'setting the flag to 0% (retried until Unleash confirms it)');
        await calls.setFlagPercent({ target, percent: 0 });
        confirmPercent(0);
        await record(
          { dedupeKey: 'flag-rolled-back', kind: 'flag_rolled_back', details: { percent: 0 }, percent: 0 },
          'flag set to 0% and confirmed',
        );
      },
      run: async () => {
        const from = rampAt?.index ?? 0;
        for (let index = from; index < plan.stages.length; index++) {
          const stage = plan.stages[index]!;
          let soakMs = stage.soak;
          if (index === from && rampAt?.soakRemainingMs != null) {
            // A continued run: this stage's percent was confirmed by the previous run; only its soak is left.
            soakMs = rampAt.soakRemainingMs;
          } else {
            rampAt = { index, soakRemainingMs: null };
            await checkpoint();
            if (stage.approval && !controls.approved.has(index)) {
              status.awaitingApproval = index;
              note(
                'awaiting_approval',
                `stage ${index + 1} (${stage.percent}%) waits for an operator's approval`,
              );
              await waitFor(() => controls.approved.has(index) || rollbackRequested());
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
          }
          if (soakMs > 0) {
            const endsAt = workflowNowMs() + soakMs;
            status.soakEndsAt = workflowNowIso(soakMs);
            rampAt = { index, soakRemainingMs: soakMs };
            try {
              // A rollback request cuts the soak short; a pause lets it finish and holds at the next checkpoint.
              await waitFor(rollbackRequested, soakMs);
            } finally {
              rampAt = { index, soakRemainingMs: Math.max(0, endsAt - workflowNowMs()) };
            }
            status.soakEndsAt = null;
          }
        }
      },
    },
  ];
  const byName = new Map(phases.map((phase) => [phase.name, phase]));

  // --- Continue-as-new ---------------------------------------------------------------------------------
  const continueWithState = async (): Promise<never> => {
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    status.continuedAsNew += 1;
    note('continued_as_new', `history at ${describeHistory()}: continuing as a new run with the same state`);
    const state: CarriedState = {
      status,
      controls: controls.carry(),
      finished: [...finished],
      current,
      ramp: rampAt,
      rollback,
      unrecordedIgnored,
    };
    return continueAsNew<typeof RolloutWorkflow>({
      rolloutId: input.rolloutId,
      plan: input.plan,
      requestedBy: input.requestedBy,
      carried: state,
    });
  };

  // --- Forward ---------------------------------------------------------------------------------------------
  void flushIgnored(); // what the previous run could not write before it handed over
  let failure: unknown;
  if (rollback === null) {
    try {
      for (const phase of phases) {
        if (phase.enabled === false || finished.has(phase.name)) continue;
        if (phase.name !== current) {
          if (phase.name !== 'preflight') await checkpoint();
          current = phase.name;
        }
        enter(phase.name);
        await phase.run();
        finished.add(phase.name);
        current = null;
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
      await flushIgnoredFinally();
      await condition(allHandlersFinished);
      return status;
    } catch (error) {
      const cancelled = isCancellation(error) || CancellationScope.current().consideredCancelled;
      if (error instanceof ContinueAsNewNeeded && !cancelled) return continueWithState();
      failure = error;
      const requested = error instanceof RollbackRequested;
      const cause = cancelled ? 'cancelled' : errorText(error);
      // Compensations in reverse phase order: the flag (ramp) first, then the data phases.
      const remaining = [...PHASE_ORDER]
        .reverse()
        .filter((name) => (finished.has(name) || current === name) && byName.get(name)?.compensate);
      rollback = {
        cause,
        kind: cancelled ? 'cancelled' : requested ? 'requested' : 'failure',
        remaining,
        // An operator's rollback before anything changed is still a rollback; only a failure with nothing
        // to undo is plainly `failed`.
        outcome: cancelled ? 'cancelled' : requested || remaining.length > 0 ? 'rolled_back' : 'failed',
      };
      status.error = cause;
    }
  }

  // --- Rollback ------------------------------------------------------------------------------------------
  const undo = rollback;
  if (undo.kind === 'cancelled') mayHandOver = false;
  // Compensation must finish even when the workflow itself is being cancelled.
  const handOver = await CancellationScope.nonCancellable(async () => {
    // The operator's own record of the rollback (a handler, a few attempts at most) comes before the
    // rollback's records, so the audit log reads in the order things were decided.
    await condition(allHandlersFinished);
    if (undo.remaining.length > 0 && status.phase !== 'rollback') {
      enter('rollback');
      await record(
        {
          dedupeKey: 'rollback-started',
          kind: 'rollback_started',
          details: { cause: undo.cause },
          phase: 'rollback',
        },
        `rolling back: ${undo.cause}`,
      );
    }
    for (let phase = undo.remaining[0]; phase !== undefined; phase = undo.remaining[0]) {
      if (handOverDue()) return true;
      try {
        await byName.get(phase)!.compensate!();
      } catch (error) {
        if (error instanceof ContinueAsNewNeeded) return true;
        // Every later compensation still runs; this one is reported as left undone.
        const message = errorText(error);
        status.rollbackFailures.push({ phase, error: message });
        await record(
          {
            dedupeKey: `compensation-failed-${phase}`,
            kind: 'compensation_failed',
            details: { phase, error: message },
          },
          `undoing ${phase} failed: ${message}`,
        );
      }
      undo.remaining.shift();
    }
    const outcome = status.rollbackFailures.length > 0 ? 'rollback_failed' : undo.outcome;
    status.outcome = outcome;
    if (outcome === 'rollback_failed') {
      status.operatorAction =
        `left undone: ${status.rollbackFailures.map((f) => f.phase).join(', ')}. ` +
        'Fix the cause named in each failure, then restore by hand (README, "A rollback_failed rollout"); ' +
        'the run is released, so a new rollout of this flag can start once the data is right.';
    }
    await record(
      { dedupeKey: 'ended', kind: outcome, details: { cause: undo.cause }, state: outcome },
      `ended ${outcome}`,
    );
    return false;
  });
  if (handOver) return continueWithState();
  await flushIgnoredFinally();
  await condition(allHandlersFinished);

  if (status.outcome === 'rollback_failed') {
    throw ApplicationFailure.nonRetryable(
      `rollback failed after "${undo.cause}": ${status.rollbackFailures.map((f) => `${f.phase}: ${f.error}`).join('; ')}`,
      'RollbackFailed',
    );
  }
  // An operator's rollback is the workflow doing its job: it ends normally, with outcome rolled_back.
  if (undo.kind === 'requested') return status;
  if (failure !== undefined) throw failure;
  // A continued run has lost the original error object; its cause is kept as text.
  throw ApplicationFailure.nonRetryable(
    undo.kind === 'cancelled' ? 'cancelled by an operator; rolled back' : undo.cause,
    undo.kind === 'cancelled' ? 'Cancelled' : 'RolloutFailed',
  );
}

/** Thrown at the next checkpoint after an operator asked for a rollback. */
class RollbackRequested extends Error {
  constructor(actor: string, reason: string) {
    super(`rollback requested by ${actor}: ${reason}`);
    this.name = 'RollbackRequested';
  }
}
