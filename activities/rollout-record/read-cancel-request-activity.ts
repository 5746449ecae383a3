import { Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import { boundedText, MAX_ACTOR_CHARS, MAX_REASON_CHARS } from '../../workflows/operator-request';

/** Who asked Temporal to cancel the rollout, and why, as the server recorded it. */
export interface CancelRequest {
  /** The requester's identity (the CLI sends user@host; the Web UI its user or `webui`); null if none. */
  identity: string | null;
  /** The reason sent with the request (`rollout cancel --reason`); the Web UI's dialog sends none. */
  reason: string | null;
}

const EventType = temporal.api.enums.v1.EventType;
/** The request is among the newest events; a few pages of the reversed history always reach it. */
const MAX_PAGES = 5;

/**
 * A workflow cannot see who cancelled it: the identity and reason are only on the history's
 * `WorkflowExecutionCancelRequested` event. This reads them (newest events first) so the rollout can
 * attribute its cancel in the audit log and the status. Both are cleaned and bounded like operator messages.
 */
export async function readCancelRequest(): Promise<CancelRequest> {
  const context = Context.current();
  const { workflowExecution, workflowNamespace } = context.info;
  let nextPageToken: Uint8Array | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const response = await context.client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: workflowNamespace,
      execution: workflowExecution,
      maximumPageSize: 200,
      nextPageToken,
    });
    for (const event of response.history?.events ?? []) {
      if (event.eventType !== EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED) continue;
      const attributes = event.workflowExecutionCancelRequestedEventAttributes;
      const identity = attributes?.identity ? boundedText(attributes.identity, MAX_ACTOR_CHARS).trim() : '';
      const reason = attributes?.cause ? boundedText(attributes.cause, MAX_REASON_CHARS).trim() : '';
      return { identity: identity || null, reason: reason || null };
    }
    if (!response.nextPageToken?.length) break;
    nextPageToken = response.nextPageToken;
  }
  return { identity: null, reason: null };
}
