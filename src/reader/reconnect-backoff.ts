export interface BackoffOptions {
  /** Delay before the first retry; default 100 ms. */
  initialMs?: number;
  /** Ceiling on any delay; default 5,000 ms. */
  maxMs?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random, so a fleet of readers that
 * lost the same server does not reconnect in lockstep, and no retry comes sooner than half the schedule.
 * `attempt` counts from 1.
 *
 * @example
 * const delay = reconnectDelayMs(3, { initialMs: 100, maxMs: 5_000 }); // between 200 and 400 ms
 */
export function reconnectDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const initialMs = options.initialMs ?? 100;
  const maxMs = options.maxMs ?? 5_000;
  const random = options.random ?? Math.random;
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(maxMs, initialMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
