import type { Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';

/** Workers that polled a task queue recently, per kind of task. */
export interface PollerCounts {
  workflow: number;
  activity: number;
}

/**
 * Temporal lists a poller for 5 minutes after its last poll; a live worker polls again at least every minute
 * (one long poll), so an older entry is a worker that stopped (or is busy in every slot).
 */
export const POLLER_STALE_AFTER_MS = 90_000;
const DESCRIBE_TIMEOUT_MS = 10_000;

/**
 * How many workers polled the task queue for workflow tasks and for activity tasks within the last
 * {@link POLLER_STALE_AFTER_MS}, from the Temporal server's own record (`DescribeTaskQueue`).
 *
 * @example
 * const { workflow, activity } = await countRecentPollers(client, 'default', 'unified-config-rollout');
 */
export async function countRecentPollers(
  client: Client,
  namespace: string,
  taskQueue: string,
  now: number = Date.now(),
): Promise<PollerCounts> {
  const { TaskQueueType, TaskQueueKind } = temporal.api.enums.v1;
  const count = async (taskQueueType: temporal.api.enums.v1.TaskQueueType): Promise<number> => {
    const response = await client.connection.withDeadline(Date.now() + DESCRIBE_TIMEOUT_MS, () =>
      client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType,
      }),
    );
    return (response.pollers ?? []).filter((poller) => {
      const at = optionalTsToMs(poller.lastAccessTime);
      return at !== undefined && now - at <= POLLER_STALE_AFTER_MS;
    }).length;
  };
  const [workflow, activity] = await Promise.all([
    count(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    count(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
  ]);
  return { workflow, activity };
}
