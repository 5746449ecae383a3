import { NativeConnection, Runtime } from '@temporalio/worker';
import { createDatabase } from '../../db/create-database';
import { checkDevelopmentSecrets } from '../config/development-secrets';
import { readEnv } from '../config/env';
import { loadDotenv } from '../config/load-dotenv';
import { createLogger } from '../logging/create-logger';
import { UnleashAdminClient } from '../unleash/unleash-admin-client';
import { createRolloutWorker } from './create-rollout-worker';

/** Runs the rollout worker until SIGINT/SIGTERM, then drains in-flight tasks and closes its connections. */
async function main(): Promise<void> {
  loadDotenv();
  const env = readEnv();
  const logger = createLogger('rollout-worker');
  checkDevelopmentSecrets(process.env, {
    nodeEnv: process.env.NODE_ENV,
    component: 'worker',
    warn: (fields, message) => logger.warn(fields, message),
  });
  if (env.WORKER_METRICS_ADDRESS) {
    // Must precede the first connection: the SDK's runtime (and its Prometheus endpoint) is created once.
    Runtime.install({
      telemetryOptions: { metrics: { prometheus: { bindAddress: env.WORKER_METRICS_ADDRESS } } },
    });
  }
  const db = createDatabase(env.DATABASE_URL, { applicationName: 'rollout-worker' });
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS }).catch(
    (error: unknown) => {
      throw new Error(`cannot reach Temporal at ${env.TEMPORAL_ADDRESS}: ${String(error)}`, { cause: error });
    },
  );
  try {
    const worker = await createRolloutWorker({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.ROLLOUT_TASK_QUEUE,
      db,
      unleash: new UnleashAdminClient({ url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN }),
      logger,
      env: process.env,
    });
    logger.info({ taskQueue: env.ROLLOUT_TASK_QUEUE, temporal: env.TEMPORAL_ADDRESS }, 'worker started');
    // The SDK's default shutdown signals (SIGINT, SIGTERM) make run() resolve after a graceful drain.
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
