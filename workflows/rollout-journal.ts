import { upsertSearchAttributes } from '@temporalio/workflow';
import type { RolloutActivities } from '../activities';
import type { RecordEventInput } from '../activities/rollout-record/record-event-activity';
import { ROLLOUT_PERCENT, ROLLOUT_PHASE } from '../src/temporal/search-attributes';
import { calls } from './activity-proxies';
import { boundedText } from './operator-request';
import { RolloutMetrics } from './rollout-metrics';
import {
  MAX_EVENT_MESSAGE_CHARS,
  MAX_STATUS_EVENTS,
  type RolloutPhase,
  type RolloutStatus,
} from './rollout-status';
import { workflowNowIso } from './workflow-clock';

/** An audit row as the workflow writes it: the rollout id is added, the actor defaults to `workflow`. */
export type JournalEvent = Omit<RecordEventInput, 'rolloutId' | 'actor'> & { actor?: string };

/** The two names of a decision: its idempotency key in the audit log and its kind. */
export interface EventKeys {
  dedupeKey: string;
  kind: string;
}

/**
 * Everything the rollout says about itself: recent events in the status (the `status` query), rows in the
 * audit log (through the `recordEvent` activity), the search attributes of the Temporal UI's list and the
 * worker's rollout metrics (phase, confirmed percent, rollbacks by cause).
 */
export class RolloutJournal {
  private readonly metrics: RolloutMetrics;

  constructor(
    private readonly rolloutId: string,
    private readonly status: RolloutStatus,
    /** The audit log takes rows only once `claimRollout` made the run's row (a continued run already has it). */
    private claimed: boolean,
  ) {
    this.metrics = new RolloutMetrics({ flag: status.flag, environment: status.environment });
  }

  get isClaimed(): boolean {
    return this.claimed;
  }

  /** After `claimRollout`: from now on decisions reach the audit log too. */
  markClaimed(): void {
    this.claimed = true;
  }

  /** An event in the status only (bounded, the oldest dropped first). */
  note(kind: string, message: string): void {
    const events = this.status.events;
    events.push({ at: workflowNowIso(), kind, message: boundedText(message, MAX_EVENT_MESSAGE_CHARS) });
    if (events.length > MAX_STATUS_EVENTS) events.splice(0, events.length - MAX_STATUS_EVENTS);
  }

  /** An event in the status and, once claimed, a row in the audit log. A `rollback_started` is counted. */
  async record(
    event: JournalEvent,
    message: string,
    via: Pick<RolloutActivities, 'recordEvent'> = calls,
  ): Promise<void> {
    this.note(event.kind, message);
    if (event.kind === 'rollback_started') this.metrics.rollback(String(event.details?.cause ?? ''));
    if (this.claimed)
      await via.recordEvent({ rolloutId: this.rolloutId, actor: event.actor ?? 'workflow', ...event });
  }

  /** A phase's report: its audit row carries the report and moves the run row to the phase. */
  recordReport(phase: RolloutPhase, keys: EventKeys, report: object, message: string): Promise<void> {
    return this.record({ ...keys, details: { ...report }, phase }, message);
  }

  /** The phase the rollout is in, in the status, the search attributes and the metrics. */
  enter(phase: RolloutPhase): void {
    const left = this.status.phase;
    this.status.phase = phase;
    upsertSearchAttributes([{ key: ROLLOUT_PHASE, value: phase }]);
    this.metrics.phase(left, phase);
  }

  /** The percent Unleash confirmed, in the status, the search attributes and the metrics. */
  confirmPercent(percent: number): void {
    this.status.percent = percent;
    upsertSearchAttributes([{ key: ROLLOUT_PERCENT, value: percent }]);
    this.metrics.percent(percent);
  }
}
