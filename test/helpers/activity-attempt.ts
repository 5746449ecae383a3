import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';

/** The SDK logs every failed attempt; these tests fail attempts on purpose. */
const quiet: Logger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export interface ActivityAttempt {
  /** The heartbeat details this attempt sent, in order. */
  heartbeats: unknown[];
  /** Cancels the attempt as the server would: the activity's cancellation signal fires. */
  cancel(): void;
  /** Runs `work` (an activity call) inside this attempt's activity context. */
  run<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * One attempt of an activity as a worker runs it, without a server (the SDK's MockActivityEnvironment): it
 * sees the heartbeat details the previous attempt left and its attempt number, and its heartbeats are
 * recorded, each passed to `onHeartbeat` as it is sent (where a test may cancel the attempt).
 *
 * @example
 * const first = activityAttempt({ onHeartbeat: (details, self) => self.cancel() });
 * await first.run(() => migrateKeys(deps, input)); // rejects with a CancelledFailure after one heartbeat
 */
export function activityAttempt(
  options: {
    heartbeatDetails?: unknown;
    attempt?: number;
    onHeartbeat?: (details: unknown, attempt: ActivityAttempt) => void;
  } = {},
): ActivityAttempt {
  const environment = new MockActivityEnvironment(
    { heartbeatDetails: options.heartbeatDetails, attempt: options.attempt ?? 1 },
    { logger: quiet },
  );
  const attempt: ActivityAttempt = {
    heartbeats: [],
    cancel: () => environment.cancel(),
    run: (work) => environment.run(work),
  };
  environment.on('heartbeat', (details: unknown) => {
    attempt.heartbeats.push(details);
    options.onHeartbeat?.(details, attempt);
  });
  return attempt;
}
