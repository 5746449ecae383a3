import { workflowInfo } from '@temporalio/workflow';

/**
 * Temporal ends a run at 50 MB or 50,000 events of history, with no compensation at all. Signals are written
 * to history before the workflow sees them (up to 2 MB each), so a flood can get there even when the
 * workflow copies nothing. The rollout continues as new long before: when the server suggests it, or at
 * these budgets, whichever comes first.
 *
 * The byte budget is low on purpose. A rollout's own history stays far below it (reports are counts and
 * capped lists), so only outside payloads reach it, and then each run takes in about one large signal and
 * hands over. A run that grows further makes every workflow task slower (and a task the server closes
 * because more signals arrived meanwhile must replay all of it), which is how a flood used to win.
 */
export const HISTORY_BYTES_BUDGET = 2 * 1024 * 1024;
export const HISTORY_EVENTS_BUDGET = 10_000;

export function historyNearLimit(): boolean {
  const info = workflowInfo();
  return (
    info.continueAsNewSuggested ||
    info.historySize >= HISTORY_BYTES_BUDGET ||
    info.historyLength >= HISTORY_EVENTS_BUDGET
  );
}

export function describeHistory(): string {
  const info = workflowInfo();
  return `${(info.historySize / (1024 * 1024)).toFixed(1)} MB, ${info.historyLength} events`;
}

/** Thrown from a wait or a watched activity when the run should hand over to a new one. */
export class ContinueAsNewNeeded extends Error {
  constructor() {
    super('history near its limit: continuing as new');
    this.name = 'ContinueAsNewNeeded';
  }
}
