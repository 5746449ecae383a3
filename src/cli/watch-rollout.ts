import { SingleBar } from 'cli-progress';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RolloutEvent } from '../../workflows/rollout-status';
import { readRollout, type RolloutView } from './read-rollout';
import type { RolloutConnections } from './rollout-connections';

export interface WatchOptions {
  json?: boolean;
  write: (text: string) => void;
  intervalMs?: number;
  /** A progress bar for soaks, on an interactive terminal only; logs get one line per event instead. */
  interactive?: boolean;
}

function eventKey(event: RolloutEvent): string {
  return `${event.at}|${event.kind}|${event.message}`;
}

/**
 * Follows a rollout until its workflow closes: prints each new event once, and a soak progress bar on a
 * terminal. Returns the last view.
 */
export async function watchRollout(
  connections: RolloutConnections,
  rolloutId: string,
  options: WatchOptions,
): Promise<RolloutView> {
  const seen = new Set<string>();
  const interactive = options.interactive ?? (process.stderr.isTTY && !options.json);
  let bar: SingleBar | undefined;
  let barFor: string | null = null;
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
    barFor = null;
  };
  for (;;) {
    const view = await readRollout(connections, rolloutId);
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
    if (view.execution !== 'RUNNING') {
      stopBar();
      return view;
    }
    await sleep(options.intervalMs ?? 500);
  }
}
