import { workflowInfo } from '@temporalio/workflow';

/**
 * Temporal ends a run at 50 MB or 50,000 events of history, with no compensation at all. Signals are written
 * to history before the workflow sees them (up to 2 MB each), so a flood can get there even when the
 * workflow copies nothing. The rollout continues as new well before: when the server suggests it, or at
 * these budgets, whichever comes first.
 */
export const HISTORY_BYTES_BUDGET = 10 * 1024 * 1024;
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
