import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import pino from 'pino';
import type { Database } from '../../db/schema';
import { readEnv, type Env } from '../../src/config/env';
import { UnleashAdminClient } from '../../src/unleash/unleash-admin-client';
import { createRolloutWorker, ROLLOUT_PAYLOAD_CONVERTER_PATH } from '../../src/worker/create-rollout-worker';

export interface TestTemporal {
  env: Env;
  client: Client;
  unleash: UnleashAdminClient;
  taskQueue: string;
  /**
   * Runs a worker on this file's task queue until `work` settles; its activities talk to `options.unleash`
   * (default: the shared Unleash), e.g. an Unleash of the test's own that it stops.
   */
  withWorker<T>(
    db: Kysely<Database>,
    work: (worker: Worker) => Promise<T>,
    options?: { unleash?: UnleashAdminClient },
  ): Promise<T>;
  close(): Promise<void>;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
let runtimeInstalled: Runtime | undefined;

/** A short unique suffix for workflow ids, task queues and flag names, so test files never collide. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/**
 * A Temporal client and a worker factory on a unique task queue, against the stack the global setup brought up.
 *
 * @example
 * const t = await connectTestTemporal('ramp');
 * await t.withWorker(db, () => t.client.workflow.execute(RolloutWorkflow, { ... }));
 * await t.close();
 */
export async function connectTestTemporal(label: string): Promise<TestTemporal> {
  // The SDK logs every worker state change at INFO; tests only want warnings. Once per test file's runtime.
  runtimeInstalled ??= Runtime.install({ logger: new DefaultLogger('WARN') });
  const env = readEnv();
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    payloadConverterPath: ROLLOUT_PAYLOAD_CONVERTER_PATH,
    logger: silentBundlerLogger,
  });
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, connectTimeout: 10_000 });
  const nativeConnection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const taskQueue = `test-${label}-${uniqueSuffix()}`;
  const unleash = new UnleashAdminClient({ url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN });
  return {
    env,
    client,
    unleash,
    taskQueue,
    withWorker: async (db, work, options) => {
      const worker = await createRolloutWorker({
        connection: nativeConnection,
        namespace: env.TEMPORAL_NAMESPACE,
        taskQueue,
        db,
        unleash: options?.unleash ?? unleash,
        logger: pino({ level: 'warn' }),
        workflowBundle: await bundle!,
      });
      return worker.runUntil(() => work(worker));
    },
    close: async () => {
      // A bundle still building when the file ends would run on into the next test file's module registry.
      await bundle?.catch(() => undefined);
      await connection.close();
      await nativeConnection.close();
    },
  };
}

const silentBundlerLogger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`[bundler] ${message}\n`),
  error: (message: string) => process.stderr.write(`[bundler] ${message}\n`),
  log: () => undefined,
};
