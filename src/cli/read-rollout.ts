import { WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { listAuditEvents } from '../../db/audit-events';
import type { AuditEventRow } from '../../db/schema';
import { ROLLED_BACK_FAILURE, statusQuery } from '../../workflows/rollout-messages';
import type { RolloutStatus } from '../../workflows/rollout-status';
import {
  dataPhaseActivity,
  readDataProgress,
  totalsNeeded,
  type DataProgress,
  type KnownTotals,
  type PendingActivity,
} from './data-progress';
import { isUnreachable, UsageError } from './exit-codes';
import { readLiveGates, type GateLine } from './live-gates';
import { pendingActivities } from './pending-activities';
import type { RolloutConnections } from './rollout-connections';

/** No workflow has this id (never started, or gone from Temporal): exit 2 like any bad input. */
export class RolloutNotFoundError extends UsageError {
  constructor(readonly rolloutId: string) {
    super(`no rollout with id ${rolloutId}`);
    this.name = 'RolloutNotFoundError';
  }
}

export interface RolloutView {
  rolloutId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, … */
  execution: string;
  /** The task queue its worker must poll. */
  taskQueue: string;
  /** The workflow's own status, when a worker answered the query or the workflow completed. */
  status: RolloutStatus | null;
  /** Why the workflow's status is missing (no worker polling, for example). */
  statusUnavailable: string | null;
  /** The running data phase's batch progress from its last heartbeat, while one runs. */
  progress: DataProgress | null;
  /** The gates measuring now (the gated soak's last heartbeat), while one runs. */
  liveGates: GateLine[] | null;
  audit: AuditEventRow[];
}

/** What the Temporal server alone says about a rollout. */
export interface RolloutDescription {
  execution: string;
  taskQueue: string;
  runId: string;
  /** The first run of the chain (a rollout continues as new when its history grows). */
  firstRunId: string | null;
  /** True once someone asked for the workflow's cancellation. */
  cancelRequested: boolean;
  pending: PendingActivity[];
}

/** A query needs a worker; without one it would hang, so the CLI gives up after this long. */
const QUERY_TIMEOUT_MS = 5_000;
/** Describe needs only the Temporal server. */
const DESCRIBE_TIMEOUT_MS = 10_000;

/** The rollout's execution status and task queue from the Temporal server alone (no worker needed). */
export async function describeRollout(
  connections: RolloutConnections,
  rolloutId: string,
): Promise<RolloutDescription> {
  try {
    const description = await connections.client.connection.withDeadline(
      Date.now() + DESCRIBE_TIMEOUT_MS,
      () => connections.client.workflow.getHandle(rolloutId).describe(),
    );
    return {
      execution: description.status.name,
      taskQueue: description.taskQueue,
      runId: description.runId,
      firstRunId: description.raw.workflowExecutionInfo?.firstRunId || null,
      cancelRequested: description.raw.workflowExtendedInfo?.cancelRequested === true,
      pending: pendingActivities(description.raw),
    };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new RolloutNotFoundError(rolloutId);
    throw error;
  }
}

/**
 * Everything `rollout status` shows: the workflow's own status (query, or result once completed) and the
 * audit log from Postgres, which holds every decision even when no worker is running.
 */
export async function readRollout(connections: RolloutConnections, rolloutId: string): Promise<RolloutView> {
  const handle = connections.client.workflow.getHandle(rolloutId);
  const { execution, taskQueue, pending } = await describeRollout(connections, rolloutId);
  let status: RolloutStatus | null = null;
  let statusUnavailable: string | null = null;
  try {
    // A rollout that ended carries its final status (the result, or a rolled-back rollout's failure details)
    // and needs no worker; anything else is asked.
    status =
      (execution === 'COMPLETED' || execution === 'FAILED' ? await endedStatus(handle) : null) ??
      (await connections.client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () =>
        handle.query(statusQuery),
      ));
  } catch (error) {
    statusUnavailable =
      `the workflow did not answer its status query within ${QUERY_TIMEOUT_MS / 1000} s ` +
      `(is a worker polling task queue ${taskQueue}? npm run worker): ${error instanceof Error ? error.message : String(error)}`;
  }
  const progress = await readPendingProgress(connections, pending, status);
  const audit = await listAuditEvents(connections.db, rolloutId);
  const liveGates = readLiveGates(pending);
  return { rolloutId, execution, taskQueue, status, statusUnavailable, progress, liveGates, audit };
}

/**
 * The running data phase's progress, with the total its heartbeat details do not carry: runtime_config's
 * highest id (one index probe) for the key migration's rename sweep, the backup's row count for the
 * template migration.
 */
async function readPendingProgress(
  connections: RolloutConnections,
  pending: readonly PendingActivity[],
  status: RolloutStatus | null,
): Promise<DataProgress | null> {
  const activity = dataPhaseActivity(pending);
  if (!activity) return null;
  const known: KnownTotals = {};
  const needed = totalsNeeded(activity);
  if (needed === 'runtimeConfigMaxId') {
    try {
      const result = await sql<{
        max_id: string | number | null;
      }>`select max(id) as max_id from runtime_config`.execute(connections.db);
      const maxId = result.rows[0]?.max_id;
      known.runtimeConfigMaxId = maxId === null || maxId === undefined ? null : Number(maxId);
    } catch (error) {
      // The total is a nicety: without it the position is shown alone. A Postgres that is down is not.
      if (isUnreachable(error)) throw error;
    }
  } else if (needed === 'templateRows') {
    const backup = status?.backups.find((b) => b.sourceTable === 'prompt_templates');
    known.templateRows = backup ? Number(backup.rowCount) : null;
  }
  return readDataProgress(activity, known);
}

/**
 * The final status an ended rollout carries: a completed one's result, or the first detail of a `RolledBack` /
 * `RollbackFailed` failure. Null for other failures (a failed phase, a cancel), whose status must be queried.
 */
export async function endedStatus(handle: WorkflowHandle): Promise<RolloutStatus | null> {
  try {
    const result: unknown = await handle.result();
    return looksLikeStatus(result) ? result : null;
  } catch (error) {
    const cause = error instanceof WorkflowFailedError ? error.cause : undefined;
    // Only the rollout's own ends carry its status; anything else (another workflow type under this id, a
    // forged failure) is asked for with the query instead.
    if (!(cause instanceof ApplicationFailure) || !STATUS_FAILURES.has(cause.type ?? '')) return null;
    const details: unknown = cause.details?.[0];
    return looksLikeStatus(details) ? details : null;
  }
}

/** The failure types whose first detail is the rollout's final status. */
const STATUS_FAILURES = new Set([ROLLED_BACK_FAILURE, 'RollbackFailed']);

/** Enough of a RolloutStatus's shape for the formatter not to trip over a result that is something else. */
function looksLikeStatus(value: unknown): value is RolloutStatus {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.outcome === 'string' &&
    typeof v.phase === 'string' &&
    Array.isArray(v.stages) &&
    Array.isArray(v.events) &&
    Array.isArray(v.backups) &&
    Array.isArray(v.rollbackFailures) &&
    typeof v.ignored === 'object' &&
    v.ignored !== null
  );
}
