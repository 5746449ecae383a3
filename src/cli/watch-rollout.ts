import { SingleBar } from 'cli-progress';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RolloutEvent } from '../../workflows/rollout-status';
import { isUnreachable } from './exit-codes';
import { describeRollout, readRollout, RolloutNotFoundError, type RolloutView } from './read-rollout';
import type { RolloutConnections } from './rollout-connections';
import { countRecentPollers } from './task-queue-pollers';
import { WorkerPresence } from './worker-presence';

export interface WatchOptions {
  json?: boolean;
  write: (text: string) => void;
  /** Notices about the watch itself, such as no worker polling; stderr by default, so JSON output stays events. */
  notify?: (text: string) => void;
  intervalMs?: number;
  /** How often the task queue's pollers are looked up (default 5 s). */
  workerCheckEveryMs?: number;
  /** How often a missing worker is reported again while it stays missing (default 30 s). */
  workerRepeatEveryMs?: number;
  /** A progress bar for soaks, on an interactive terminal only; logs get one line per event instead. */
  interactive?: boolean;
}

function eventKey(event: RolloutEvent): string {
  return `${event.at}|${event.kind}|${event.message}`;
}

/**
 * Follows a rollout until its workflow closes: prints each new event once, a soak progress bar on a
 * terminal, and a notice when no worker polls the rollout's task queue (a rollout without a worker does not
 * move, and would otherwise look merely slow). Returns the last view.
 */
export async function watchRollout(
  connections: RolloutConnections,
  rolloutId: string,
  options: WatchOptions,
): Promise<RolloutView> {
  const notify = options.notify ?? ((text: string) => process.stderr.write(text));
  const seen = new Set<string>();
  const interactive = options.interactive ?? (process.stderr.isTTY && !options.json);
  let bar: SingleBar | undefined;
  let barFor: string | null = null;
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
    barFor = null;
  };

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
      if (notice) {
        stopBar();
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
    let view: RolloutView;
    try {
      view = await readRollout(connections, rolloutId);
    } catch (error) {
      if (error instanceof RolloutNotFoundError) {
        stopBar();
        throw new Error(
          `rollout ${rolloutId} is no longer known to Temporal while being watched (deleted, or a dev server ` +
            'restarted without its state); its audit log stays in Postgres',
          { cause: error },
        );
      }
      throw error;
    }
    running = view.execution === 'RUNNING';
    // A worker answered the status query: look again now rather than at the next scheduled check.
    if (presence.missing && running && view.status !== null) nextWorkerCheck = 0;
    const status = view.status;
    for (const event of status?.events ?? []) {
      const key = eventKey(event);
      if (seen.has(key)) continue;
      seen.add(key);
      stopBar();
      options.write(
        options.json
          ? `${JSON.stringify({ rolloutId, ...event })}\n`
          : `${event.at}  ${event.kind.padEnd(18)} ${event.message}\n`,
      );
    }
    if (interactive && status?.soakEndsAt && status.stageIndex !== null) {
      const stage = status.stages[status.stageIndex];
      if (stage && barFor !== status.soakEndsAt) {
        stopBar();
        bar = new SingleBar({
          format: `  soak at ${stage.percent}% [{bar}] {percentage}% | {remaining}s left`,
          stream: process.stderr,
        });
        bar.start(stage.soakMs, 0, { remaining: Math.ceil(stage.soakMs / 1000) });
        barFor = status.soakEndsAt;
      }
      if (bar && stage) {
        const left = Math.max(0, Date.parse(status.soakEndsAt) - Date.now());
        bar.update(stage.soakMs - left, { remaining: Math.ceil(left / 1000) });
      }
    } else if (!status?.soakEndsAt) {
      stopBar();
    }
    if (!running) {
      stopBar();
      return view;
    }
    await sleep(options.intervalMs ?? 500);
  }
}
