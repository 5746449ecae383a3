import type { temporal } from '@temporalio/proto';
import { payloadConverter } from '../temporal/tolerant-payload-converter';
import type { PendingActivity } from './data-progress';

type DescribeResponse = temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse;

/** Longest activity type name kept: it comes from the server and ends up in a printed line. */
const MAX_TYPE_CHARS = 100;

/** A protobuf timestamp as ISO 8601; null when absent or not a sane time (it comes over the network). */
function timestampText(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null {
  if (!ts) return null;
  const raw = ts.seconds as { toNumber?: () => number } | number | null | undefined;
  const seconds = typeof raw === 'number' ? raw : (raw?.toNumber?.() ?? NaN);
  const ms = seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : null;
}

function decodeDetails(payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown {
  const first = payloads?.payloads?.[0];
  if (!first) return undefined;
  // The tolerant converter turns a payload it cannot decode into a marker object (never a throw), which
  // the progress schemas then refuse like any other unexpected shape.
  return payloadConverter.fromPayload(first);
}

/**
 * The workflow's pending activities from a `DescribeWorkflowExecution` answer, each with its last heartbeat
 * details decoded (untrusted: {@link readDataProgress} validates them).
 *
 * @example
 * const pending = pendingActivities((await handle.describe()).raw);
 */
export function pendingActivities(raw: DescribeResponse): PendingActivity[] {
  return (raw.pendingActivities ?? []).map((activity) => {
    return {
      activityType: (activity.activityType?.name ?? '').slice(0, MAX_TYPE_CHARS),
      details: decodeDetails(activity.heartbeatDetails),
      attempt: activity.attempt ?? 1,
      heartbeatAt: timestampText(activity.lastHeartbeatTime),
    };
  });
}
