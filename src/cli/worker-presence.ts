import { formatDuration } from '../plan/duration';
import type { PollerCounts } from './task-queue-pollers';

export interface WorkerPresenceOptions {
  /** How often to say again that no worker polls, while that lasts. */
  repeatEveryMs?: number;
}

function missingKinds(counts: PollerCounts): string | null {
  if (counts.workflow > 0 && counts.activity > 0) return null;
  if (counts.workflow === 0 && counts.activity === 0) return 'workflow or activity tasks';
  return counts.workflow === 0 ? 'workflow tasks' : 'activity tasks';
}

/**
 * Turns successive poller counts of a rollout's task queue into what a watcher should be told: at once when
 * no worker polls, again every `repeatEveryMs` while none does, and once when one appears. A rollout with no
 * worker does not move, and a watch that stays silent then looks like a rollout that is merely slow.
 *
 * @example
 * const presence = new WorkerPresence('unified-config-rollout');
 * presence.observe({ workflow: 0, activity: 0 }, 0); // 'warning: no worker polls task queue …'
 * presence.observe({ workflow: 0, activity: 0 }, 5_000); // undefined (said 5 s ago)
 * presence.observe({ workflow: 1, activity: 1 }, 9_000); // 'a worker now polls task queue …'
 */
export class WorkerPresence {
  private readonly repeatEveryMs: number;
  /** When the current stretch without a worker started, and when it was last reported. */
  private missingSince: number | null = null;
  private reportedAt: number | null = null;

  constructor(
    private readonly taskQueue: string,
    options: WorkerPresenceOptions = {},
  ) {
    this.repeatEveryMs = options.repeatEveryMs ?? 30_000;
  }

  /** True between a "no worker" warning and the next observation with a worker. */
  get missing(): boolean {
    return this.missingSince !== null;
  }

  /** The notice to print for this observation, if any. */
  observe(counts: PollerCounts, now: number): string | undefined {
    const missing = missingKinds(counts);
    if (missing === null) {
      const wasMissing = this.missingSince !== null;
      this.missingSince = null;
      this.reportedAt = null;
      return wasMissing
        ? `a worker now polls task queue ${this.taskQueue}; the rollout can go on`
        : undefined;
    }
    if (this.missingSince === null) {
      this.missingSince = now;
      this.reportedAt = now;
      return (
        `warning: no worker polls task queue ${this.taskQueue} for ${missing}, so the rollout cannot move ` +
        `(start one: npm run worker, with ROLLOUT_TASK_QUEUE=${this.taskQueue})`
      );
    }
    if (now - (this.reportedAt ?? now) >= this.repeatEveryMs) {
      this.reportedAt = now;
      return `warning: still no worker polls task queue ${this.taskQueue} for ${missing} (for ${formatDuration(Math.round((now - this.missingSince) / 1000) * 1000)})`;
    }
    return undefined;
  }
}
