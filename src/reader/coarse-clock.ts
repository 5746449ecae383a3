export interface Clock {
  /** Milliseconds on a monotonic scale; only differences mean anything. */
  now(): number;
}

export interface CoarseClock extends Clock {
  /** Reads the precise clock now (and remembers it); for paths that are about to do I/O anyway. */
  refresh(): number;
  stop(): void;
}

/**
 * A clock that reads the system clock every `resolutionMs` instead of on every call. A cached `get` is a
 * couple of Map lookups, and reading the precise clock on each one would cost more than the lookups
 * themselves. TTL checks are then exact to within `resolutionMs`.
 * The timer is unref'd (it must not keep a process alive) and the clock stops on `stop()`.
 *
 * @example
 * const clock = createCoarseClock(50);
 * const expiresAt = clock.now() + 5_000;
 * clock.stop();
 */
export function createCoarseClock(
  resolutionMs: number,
  source: () => number = () => performance.now(),
): CoarseClock {
  let current = source();
  const timer = setInterval(() => {
    current = source();
  }, resolutionMs);
  timer.unref();
  return {
    now: () => current,
    refresh: () => (current = source()),
    stop: () => clearInterval(timer),
  };
}
