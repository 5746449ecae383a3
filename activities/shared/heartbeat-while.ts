import { Context } from '@temporalio/activity';

/**
 * Heartbeats every `everyMs` while `work` runs, so the server notices a dead worker within the heartbeat
 * timeout even while one long SQL statement runs, and cancellation reaches the activity.
 */
export async function heartbeatWhile<T>(
  work: () => Promise<T>,
  everyMs = 5_000,
  details?: () => unknown,
): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(details?.()), everyMs);
  try {
    context.heartbeat(details?.());
    return await work();
  } finally {
    clearInterval(timer);
  }
}
