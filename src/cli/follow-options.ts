import type { Command } from 'commander';
import { parseDuration } from '../plan/duration';
import { UsageError } from './exit-codes';

/**
 * A duration given on the command line (`30s`, `5m`, `1.5h`, `250ms`: the plan's duration syntax, so a bare
 * number, which has no unit, is refused), in milliseconds; a usage error (exit 2) naming the option otherwise.
 *
 * @example
 * parseDurationOption('--timeout', '10m', { minMs: 1 }); // 600000
 */
export function parseDurationOption(
  option: string,
  text: string,
  bounds: { minMs: number; maxMs?: number },
): number {
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new UsageError(
      `${option} must be a duration such as 30s, 5m or 1h (a number with a unit: ms, s, m or h), not "${text}"`,
    );
  }
  if (ms < bounds.minMs) throw new UsageError(`${option} must be at least ${bounds.minMs} ms, not "${text}"`);
  if (bounds.maxMs !== undefined && ms > bounds.maxMs)
    throw new UsageError(`${option} must be at most ${bounds.maxMs / 3_600_000}h, not "${text}"`);
  return ms;
}

/** `--timeout` and `--progress-every` of `watch` and `start --watch`, parsed. */
export interface FollowOptions {
  timeoutMs?: number;
  progressEveryMs?: number;
}

/** Reads the follow options from commander's parsed strings. */
export function parseFollowOptions(options: { timeout?: string; progressEvery?: string }): FollowOptions {
  return {
    timeoutMs:
      options.timeout === undefined
        ? undefined
        : parseDurationOption('--timeout', options.timeout, { minMs: 1, maxMs: 7 * 24 * 3_600_000 }),
    progressEveryMs:
      options.progressEvery === undefined
        ? undefined
        : parseDurationOption('--progress-every', options.progressEvery, { minMs: 1_000 }),
  };
}

/** Adds `--timeout` and `--progress-every` to `watch`, or to `start` (where they apply with `--watch`). */
export function addFollowOptions(command: Command, prefix = ''): Command {
  return command
    .option(
      '--timeout <duration>',
      `${prefix}give up after this long (e.g. 30m), exit 4; the rollout goes on (default: wait until it ends)`,
    )
    .option(
      '--progress-every <duration>',
      `${prefix}a data phase's plain batch-progress lines at most this often, when not on a terminal (default 5s)`,
    );
}
