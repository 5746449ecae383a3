import { ActivityFailure } from '@temporalio/workflow';
import { boundedText } from './operator-request';
import { MAX_EVENT_MESSAGE_CHARS } from './rollout-status';

/** The message that says what went wrong: an activity's own error, not the wrapper's "Activity task failed". */
export function errorText(error: unknown): string {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  return boundedText(cause instanceof Error ? cause.message : String(cause), MAX_EVENT_MESSAGE_CHARS);
}
