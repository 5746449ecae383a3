import { setTimeout as sleep } from 'node:timers/promises';
import type { RolloutEvent } from '../../workflows/rollout-status';
import { formatDuration } from '../plan/duration';
import { DataProgressReporter } from './data-progress-reporter';
import { isUnreachable, WatchTimeoutError } from './exit-codes';
import { describeRollout, readRollout, RolloutNotFoundError, type RolloutView } from './read-rollout';
import type { RolloutConnections } from './rollout-connections';
import { countRecentPollers } from './task-queue-pollers';
import { TerminalBar } from './terminal-bar';
import { WorkerPresence } from './worker-presence';

export interface WatchOptions {
  json?: boolean;
  write: (text: string) => void;
  /**
   * Notices about the watch itself (no worker polling) and plain progress lines; stderr by default, so JSON
   * output stays events.
   */
  notify?: (text: string) => void;
  intervalMs?: number;
  /** How often the task queue's pollers are looked up (default 5 s). */
  workerCheckEveryMs?: number;
  /** How often a missing worker is reported again while it stays missing (default 30 s). */
  workerRepeatEveryMs?: number;
  /** Progress bars for soaks and data phases, on an interactive terminal only; logs get plain lines instead. */
  interactive?: boolean;
  /** Plain progress lines of a data phase at most this often (default 5 s). */
  progressEveryMs?: number;
  /** Give up after this long with a {@link WatchTimeoutError} (exit 4); the rollout itself goes on. */
  timeoutMs?: number;
}

/** Ends a follow loop that outlived its watch (the timeout already answered); never reaches the user. */
class WatchStopped extends Error {}

function eventKey(event: RolloutEvent): string {
  return `${event.at}|${event.kind}|${event.message}`;
}

/**
 * Follows a rollout until its workflow closes: prints each new event once, a soak progress bar on a
 * terminal, a data phase's batch progress (a bar on a terminal, plain lines otherwise), and a notice when no
 * worker polls the rollout's task queue (a rollout without a worker does not move, and would otherwise look
 * merely slow). Returns the last view; with `timeoutMs`, gives up after that long and throws
 * {@link WatchTimeoutError}.
 */
export async function watchRollout(
  connections: RolloutConnections,
  rolloutId: string,
  options: WatchOptions,
): Promise<RolloutView> {
  const bar = new TerminalBar(process.stderr);
  let stopped = false;
  let last: RolloutView | null = null;
  const following = follow(connections, rolloutId, options, {
    bar,
    stopped: () => stopped,
    seen: (view) => (last = view),
  });
  try {
    if (options.timeoutMs === undefined) return await following;
    const timeoutMs = options.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stopped = true;
        const status = last?.status;
        const where = status
          ? ` (phase ${status.phase}, ${status.percent}%)`
          : last
            ? ` (${last.execution.toLowerCase()})`
            : '';
        reject(
          new WatchTimeoutError(
            `gave up watching rollout ${rolloutId} after ${formatDuration(timeoutMs)} (--timeout): it is still running${where} ` +
              `and goes on without the watch; follow it again with rollout watch ${rolloutId}`,
          ),
        );
      }, timeoutMs);
    });
    // The follow loop still in flight when the time runs out stops at its next step; its outcome is moot.
    following.catch(() => undefined);
    try {
      return await Promise.race([following, giveUp]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    stopped = true;
    bar.stop();
  }
}

async function follow(
  connections: RolloutConnections,
  rolloutId: string,
  options: WatchOptions,
  control: { bar: TerminalBar; stopped: () => boolean; seen: (view: RolloutView) => void },
): Promise<RolloutView> {
  const notify = options.notify ?? ((text: string) => process.stderr.write(text));
  const seen = new Set<string>();
  const interactive = options.interactive ?? (process.stderr.isTTY && !options.json);
  const { bar } = control;
  const dataProgress = new DataProgressReporter({
    bar: interactive ? bar : null,
    write: notify,
    lineEveryMs: options.progressEveryMs,
  });
  // Not found here is bad input (exit 2); the task queue is known before the first status query, which
  // itself waits for a worker.
  const described = await describeRollout(connections, rolloutId);
  let running = described.execution === 'RUNNING';
  const presence = new WorkerPresence(described.taskQueue, { repeatEveryMs: options.workerRepeatEveryMs });
  let nextWorkerCheck = 0;
  let workerCheckFailed = false;
  const checkWorkers = async () => {
    if (!running || workerCheckFailed || Date.now() < nextWorkerCheck) return;
    nextWorkerCheck = Date.now() + (options.workerCheckEveryMs ?? 5_000);
    try {
      const counts = await countRecentPollers(
        connections.client,
        connections.env.TEMPORAL_NAMESPACE,
        described.taskQueue,
      );
      const notice = presence.observe(counts, Date.now());
      if (notice && !control.stopped()) {
        bar.stop();
        notify(`${notice}\n`);
      }
    } catch (error) {
      if (isUnreachable(error)) throw error;
      // A server that refuses this one call still lets the watch go on; say once that workers go unchecked.
      workerCheckFailed = true;
      notify(
        `note: cannot tell whether a worker polls task queue ${described.taskQueue}: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  };

  for (;;) {
    await checkWorkers();
    if (control.stopped()) throw new WatchStopped();
    let view: RolloutView;
    try {
      view = await readRollout(connections, rolloutId);
    } catch (error) {
      if (control.stopped()) throw new WatchStopped();
      if (error instanceof RolloutNotFoundError) {
        bar.stop();
        throw new Error(
          `rollout ${rolloutId} is no longer known to Temporal while being watched (deleted, or a dev server ` +
            'restarted without its state); its audit log stays in Postgres',
          { cause: error },
        );
      }
      throw error;
    }
    if (control.stopped()) throw new WatchStopped();
    control.seen(view);
    running = view.execution === 'RUNNING';
    // A worker answered the status query: look again now rather than at the next scheduled check.
    if (presence.missing && running && view.status !== null) nextWorkerCheck = 0;
    const status = view.status;
    for (const event of status?.events ?? []) {
      const key = eventKey(event);
      if (seen.has(key)) continue;
      seen.add(key);
      bar.stop();
      options.write(
        options.json
          ? `${JSON.stringify({ rolloutId, ...event })}\n`
          : `${event.at}  ${event.kind.padEnd(18)} ${event.message}\n`,
      );
    }
    const stage = status?.stageIndex != null ? status.stages[status.stageIndex] : undefined;
    if (interactive && status?.soakEndsAt && stage) {
      const left = Math.max(0, Date.parse(status.soakEndsAt) - Date.now());
      bar.show(
        `soak:${status.soakEndsAt}`,
        `  soak at ${stage.percent}% [{bar}] {percentage}% | {remaining}s left`,
        stage.soakMs,
        stage.soakMs - left,
        { remaining: Math.ceil(left / 1000) },
      );
    } else if (bar.showing?.startsWith('soak:')) {
      bar.stop();
    }
    dataProgress.observe(running ? view.progress : null);
    if (!running) {
      bar.stop();
      return view;
    }
    await sleep(options.intervalMs ?? 500);
  }
}
