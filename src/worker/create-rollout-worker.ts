import { type NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { createActivities } from '../../activities';
import type { ActivityClock } from '../../activities/activity-deps';
import type { Database } from '../../db/schema';
import type { UnleashAdminClient } from '../unleash/unleash-admin-client';

/**
 * The payload converter of the workflow and its activities: a signal or update whose payload cannot be decoded
 * reaches the handlers as a marked value they refuse, instead of failing every workflow task.
 */
export const ROLLOUT_PAYLOAD_CONVERTER_PATH = require.resolve('../temporal/tolerant-payload-converter');

export interface RolloutWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  db: Kysely<Database>;
  unleash: UnleashAdminClient;
  logger: Logger;
  /**
   * The environment gate providers read named settings from (`bearerTokenEnv`, `databaseUrlEnv`); default
   * `process.env`, the worker's own.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** The gated soak's clock; default real time. A test passes a fast one to take many measurements quickly. */
  clock?: ActivityClock;
  /** A prebuilt bundle (tests build one per file); by default the worker bundles `workflows/` itself. */
  workflowBundle?: WorkflowBundleOption;
}

/**
 * The rollout worker: the workflows of `workflows/` and the activities from `createActivities`.
 *
 * @example
 * const worker = await createRolloutWorker({ connection, namespace: 'default', taskQueue, db, unleash, logger });
 * await worker.run();
 */
export function createRolloutWorker(options: RolloutWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../../workflows') }),
    // Must match the bundle's converter (bundleWorkflowCode's payloadConverterPath).
    dataConverter: { payloadConverterPath: ROLLOUT_PAYLOAD_CONVERTER_PATH },
    activities: createActivities({
      db: options.db,
      unleash: options.unleash,
      logger: options.logger,
      env: options.env ?? process.env,
      ...(options.clock ? { clock: options.clock } : {}),
    }),
    // Data phases checkpoint in their heartbeats. By default the SDK sends them at most every 0.8 x the
    // heartbeat timeout (12 s here), so a crash within that window lost the checkpoint and the phase started
    // over. Sending at most every second keeps the server's checkpoint at most a second behind.
    maxHeartbeatThrottleInterval: '1 second',
  });
}
