import { checkDevelopmentSecrets } from '../config/development-secrets';
import { readEnv } from '../config/env';
import { loadDotenv } from '../config/load-dotenv';
import { createLogger } from '../logging/create-logger';
import { startConfigService } from './start-config-service';

/**
 * Runs the config service until SIGTERM or SIGINT, then shuts down gracefully: `/readyz` turns 503, the
 * listener closes, in-flight requests finish, and the reader, the flag client and the pool are closed. A
 * second signal during the drain exits at once.
 *
 * @example
 * // npm run service   (or, in the image: node dist/src/service/main.js)
 */
async function main(): Promise<void> {
  loadDotenv();
  const env = readEnv();
  const logger = createLogger('config-service');
  checkDevelopmentSecrets(process.env, {
    nodeEnv: process.env.NODE_ENV,
    component: 'config service',
    warn: (fields, message) => logger.warn(fields, message),
  });
  const running = await startConfigService(env, { logger, processMetrics: true });

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal during shutdown; exiting without waiting');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'shutting down');
    running.shutdown().then(
      () => {
        logger.info('shutdown complete');
        // Nothing should be left running; exit explicitly so a stray handle cannot keep a container alive.
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ error: (error as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
