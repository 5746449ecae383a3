import {
  ApplicationFailure,
  condition,
  setDefaultSignalHandler,
  setHandler,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import { operatorAudit } from './activity-proxies';
import { errorText } from './failure-text';
import type { OperatorAction, OperatorControls, RolloutSituation } from './operator-controls';
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
} from './rollout-messages';
import type { RolloutJournal } from './rollout-journal';
import {
  MAX_IGNORED_MESSAGE_CHARS,
  MAX_IGNORED_SHOWN,
  type OperatorAnswer,
  type RolloutStatus,
} from './rollout-status';
import type { RolloutWaits } from './rollout-waits';
import { workflowNowIso } from './workflow-clock';

const MAX_IGNORED_PER_AUDIT_ROW = 20;
const MAX_UNRECORDED_IGNORED = 100;

export interface OperatorInboxParts {
  rolloutId: string;
  /** Part of every audit key, so a reset (a new run replaying the rollout) never collides with the old run. */
  runId: string;
  status: RolloutStatus;
  controls: OperatorControls;
  journal: RolloutJournal;
  waits: RolloutWaits;
  /** Refused messages the previous run had not written to the audit log yet. */
  unrecorded: readonly string[];
}

/**
 * The operator messages of one run: pause, resume, approve and rollback as signals and as updates (with
 * validators), and any other signal. Each is checked at the boundary, recorded in the audit log before it
 * takes effect, and never copied unbounded; what is refused is counted and written to the audit log in batches.
 */
export class OperatorInbox {
  /** Refused messages not yet in the audit log, oldest first (bounded; carried over on continue-as-new). */
  readonly unrecorded: string[];
  private accepted = 0;
  private ignoredBatches = 0;
  private flushing = false;

  constructor(private readonly parts: OperatorInboxParts) {
    this.unrecorded = [...parts.unrecorded];
  }

  /** Registers the handlers; messages that arrived before the run started are handled now. */
  listen(): void {
    this.handle('pause', pauseSignal, pauseUpdate);
    this.handle('resume', resumeSignal, resumeUpdate);
    this.handle('approve', approveSignal, approveUpdate);
    this.handle('rollback', rollbackSignal, rollbackUpdate);
    // Without this, a signal nobody handles would be buffered in memory for the rest of the run.
    setDefaultSignalHandler((signalName: string) =>
      this.ignore(
        `signal "${boundedText(signalName, 64)}"`,
        'no such signal (pause, resume, approve, rollback)',
      ),
    );
  }

  /**
   * Writes refused messages to the audit log in batches, from outside the handlers: a handler that waited for
   * an activity per message would give a signal flood two workflow tasks per message, and the run could not
   * continue as new between them. It stops while the history is near its limit (the rest is carried over).
   */
  async flush(): Promise<void> {
    const { rolloutId, runId, journal, waits } = this.parts;
    if (this.flushing || !journal.isClaimed) return;
    this.flushing = true;
    try {
      while (this.unrecorded.length > 0 && !waits.handOverDue()) {
        const batch = this.unrecorded.slice(0, MAX_IGNORED_PER_AUDIT_ROW);
        await operatorAudit.recordEvent({
          rolloutId,
          dedupeKey: `ignored-${runId}-${++this.ignoredBatches}`,
          kind: 'operator_messages_ignored',
          actor: 'unknown (messages refused)',
          details: { messages: batch },
        });
        this.unrecorded.splice(0, batch.length);
      }
    } catch (error) {
      // The messages stay counted in the status; the audit log misses this batch, and says nothing wrong.
      journal.note(
        'audit_write_failed',
        `refused messages not written to the audit log: ${errorText(error)}`,
      );
      this.unrecorded.splice(0, MAX_IGNORED_PER_AUDIT_ROW);
    } finally {
      this.flushing = false;
    }
  }

  /** Before the run ends: the last batch, after any batch still being written. */
  async flushBeforeEnd(): Promise<void> {
    await condition(() => !this.flushing);
    await this.flush();
  }

  private situation(): RolloutSituation {
    const { status } = this.parts;
    return {
      ended: status.outcome !== 'running',
      rollingBack: status.phase === 'rollback',
      // Internally an index; a status carried from a run of older code may lack the field (then nothing waits).
      awaitingApproval: status.awaitingApprovalStage == null ? null : status.awaitingApprovalStage - 1,
    };
  }

  private answer(): OperatorAnswer {
    const { status } = this.parts;
    return {
      rolloutId: status.rolloutId,
      phase: status.phase,
      outcome: status.outcome,
      percent: status.percent,
      stageIndex: status.stageIndex,
      paused: status.paused,
      pausedBy: status.pausedBy,
      awaitingApprovalStage: status.awaitingApprovalStage,
    };
  }

  /** A message the workflow will not act on: counted and noted by type and size, never copied. */
  private ignore(what: string, why: string): void {
    const { ignored } = this.parts.status;
    const message = boundedText(`${what} ignored: ${why}`, MAX_IGNORED_MESSAGE_CHARS);
    ignored.count += 1;
    ignored.last.push({ at: workflowNowIso(), kind: 'ignored', message });
    if (ignored.last.length > MAX_IGNORED_SHOWN) ignored.last.shift();
    this.unrecorded.push(message);
    // Bounded: past this many waiting, the oldest are dropped from the audit log (the count above stays).
    if (this.unrecorded.length > MAX_UNRECORDED_IGNORED) this.unrecorded.shift();
    void this.flush();
  }

  private async operate(action: OperatorAction, raw: unknown, via: 'signal' | 'update'): Promise<void> {
    const { runId, status, controls, journal } = this.parts;
    const reading = readOperatorRequest(raw, action);
    if (!reading.ok) {
      // Updates never get here (their validator refused the same payload before history changed).
      this.ignore(`${action} ${via}`, `${reading.problem} (${reading.payload})`);
      return;
    }
    const refusal = controls.refusal(action, this.situation());
    if (refusal !== null) {
      // The state moved between an update's validation and its execution; a signal cannot be answered.
      if (via === 'update') throw ApplicationFailure.nonRetryable(`cannot ${action}: ${refusal}`, 'Refused');
      this.ignore(`${action} signal from ${reading.request.actor}`, refusal);
      return;
    }
    const request = reading.request;
    const now = this.situation();
    // A rollback takes effect at once, so no stage can advance while its record is being written; every
    // other request is recorded first, then applied: the audit log holds the decision before it acts.
    if (action === 'rollback') controls.apply(action, request, now);
    try {
      await journal.record(
        {
          dedupeKey: `operator-${runId}-${++this.accepted}-${action}`,
          kind: `operator_${action}`,
          actor: request.actor,
          details: {
            reason: request.reason,
            stage: now.awaitingApproval === null ? null : now.awaitingApproval + 1,
            via,
            // A rollback names the scope it asked for; null means the plan's (the rollback_started row
            // names the scope applied).
            ...(action === 'rollback' ? { scope: request.scope ?? null } : {}),
          },
        },
        controls.describe(action, request, now),
        operatorAudit,
      );
    } catch (error) {
      if (action === 'rollback') return; // already in effect; the rollback's own records follow
      const why = `its audit record could not be written (${errorText(error)})`;
      if (via === 'update') throw ApplicationFailure.nonRetryable(`cannot ${action}: ${why}`, 'Refused');
      this.ignore(`${action} signal from ${request.actor}`, why);
      return;
    }
    if (action !== 'rollback') controls.apply(action, request, now);
    status.paused = controls.paused;
    status.pausedBy = controls.pausedBy;
  }

  private handle(
    action: OperatorAction,
    signal: SignalDefinition<[OperatorRequest]>,
    update: UpdateDefinition<OperatorAnswer, [OperatorRequest]>,
  ): void {
    const { controls } = this.parts;
    setHandler(signal, (raw: unknown) => this.operate(action, raw, 'signal'));
    setHandler(
      update,
      async (raw: unknown) => {
        await this.operate(action, raw, 'update');
        return this.answer();
      },
      {
        validator: (raw: unknown) => {
          const reading = readOperatorRequest(raw, action);
          if (!reading.ok) throw new Error(`${action} refused: ${reading.problem}`);
          const refusal = controls.refusal(action, this.situation());
          if (refusal !== null) throw new Error(`cannot ${action}: ${refusal}`);
        },
      },
    );
  }
}
