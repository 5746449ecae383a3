import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createDatabase } from '../../db/create-database';
import type { Env } from '../config/env';
import { SERVICE_API_TOKENS_FORMAT } from '../config/service-api-tokens';
import { createUnifiedConfigFlag, type UnifiedConfigFlagOptions } from '../flags/unified-config-flag';
import type { Invalidation, InvalidationTransport } from '../reader/invalidation-transport';
import { createPostgresNotifyTransport } from '../reader/postgres-notify-transport';
import { createRedisTransport, publishInvalidation } from '../reader/redis-transport';
import { createRuntimeConfigReader } from '../reader/runtime-config-reader';
import { withTimeout } from '../reader/with-timeout';
import { secretBoxFromEnv } from '../secrets/secret-box';
import { createConfigService, type ConfigService, type ConfigServiceOptions } from './config-service';

export interface StartConfigServiceOptions {
  logger: Logger;
  /** Default: a new registry. */
  registry?: Registry;
  /** Overrides `CONFIG_SERVICE_ADDRESS` (tests and benchmarks listen on port 0). */
  address?: { host: string; port: number };
  /** Also export Node's process metrics (event loop lag, heap, GC); default false. */
  processMetrics?: boolean;
  /** Overrides of what the environment sets. */
  service?: Omit<ConfigServiceOptions, 'faultRate' | 'apiTokens'>;
  flag?: Partial<Pick<UnifiedConfigFlagOptions, 'appName' | 'sendUsageMetrics' | 'timeoutMs'>>;
}

export interface RunningConfigService {
  service: ConfigService;
  registry: Registry;
  url: string;
  /** Drains and closes the HTTP server, then the reader, the flag, Redis and the pool; idempotent. */
  shutdown(): Promise<void>;
}

/** `host:port` (validated by env.ts) split for `listen`. */
export function parseAddress(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return { host: address.slice(0, separator), port: Number(address.slice(separator + 1)) };
}

/**
 * Builds the config service and everything it depends on from the environment, and starts it: the entry
 * point's (src/service/main.ts) work, shared with tests and the benchmark that run the real thing. A missing
 * or malformed encryption key, or no SERVICE_API_TOKENS, fails here, before anything listens.
 *
 * @example
 * const running = await startConfigService(readEnv(), { logger: createLogger('config-service') });
 * process.once('SIGTERM', () => void running.shutdown());
 */
export async function startConfigService(
  env: Env,
  options: StartConfigServiceOptions,
): Promise<RunningConfigService> {
  const { logger } = options;
  if (!env.SERVICE_API_TOKENS || env.SERVICE_API_TOKENS.length === 0) {
    throw new Error(
      `SERVICE_API_TOKENS is not set: the config service serves no one without callers' tokens. ` +
        `Format: ${SERVICE_API_TOKENS_FORMAT} (see .env.example)`,
    );
  }
  const apiTokens = env.SERVICE_API_TOKENS;
  const secretBox = secretBoxFromEnv(env);
  const registry = options.registry ?? new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const db = createDatabase(env.DATABASE_URL, {
    applicationName: 'config-service',
    onIdleError: (error) => logger.warn({ error: error.message }, 'Postgres pool: idle connection lost'),
  });

  let transport: InvalidationTransport | null = null;
  let publisher: Redis | undefined;
  let publish: ((invalidation: Invalidation) => Promise<unknown>) | undefined;
  if (env.CONFIG_INVALIDATION === 'postgres') {
    transport = createPostgresNotifyTransport({
      connectionString: env.DATABASE_URL,
      applicationName: 'config-service-listener',
      logger,
    });
  } else if (env.CONFIG_INVALIDATION === 'redis') {
    if (!env.REDIS_URL) throw new Error('CONFIG_INVALIDATION=redis needs REDIS_URL (redis://host:port)');
    transport = createRedisTransport({
      url: env.REDIS_URL,
      connectionName: 'config-service-subscriber',
      logger,
    });
    const redis = new Redis(env.REDIS_URL, {
      connectionName: 'config-service-publisher',
      connectTimeout: 5_000,
      maxRetriesPerRequest: 1,
    });
    // ioredis reconnects by itself; without a listener a lost connection would crash the process.
    redis.on('error', (error: Error) =>
      logger.warn({ error: error.message }, 'Redis publisher connection problem; reconnecting'),
    );
    publisher = redis;
    publish = (invalidation) =>
      publishInvalidation(redis, invalidation).catch((error: unknown) =>
        // The write is committed; other instances see it after their TTL at the latest.
        logger.warn(
          { error: (error as Error).message, ttlMs: env.CONFIG_CACHE_TTL_MS },
          'config write committed but not announced on Redis; other instances see it within the TTL',
        ),
      );
  }

  const reader = createRuntimeConfigReader({
    db,
    transport,
    registry,
    secretBox,
    ttlMs: env.CONFIG_CACHE_TTL_MS,
    logger,
  });
  const flag = createUnifiedConfigFlag({
    unleashUrl: env.UNLEASH_URL,
    clientToken: env.UNLEASH_CLIENT_TOKEN,
    flagName: env.UNIFIED_CONFIG_FLAG,
    override: env.ENABLE_UNIFIED_CONFIG,
    backupDir: env.UNLEASH_BACKUP_DIR,
    refreshIntervalMs: env.UNLEASH_REFRESH_INTERVAL_MS,
    registry,
    logger,
    ...options.flag,
  });
  const service = createConfigService(
    { db, reader, flag, secretBox, registry, logger, publishInvalidation: publish },
    { ...options.service, faultRate: env.SERVICE_FAULT_RATE, apiTokens },
  );

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (stopping ??= (async () => {
      await service.close();
      await reader.close();
      flag.close();
      if (publisher) {
        await withTimeout(publisher.quit(), 5_000, 'closing the Redis publisher').catch(() =>
          publisher?.disconnect(),
        );
      }
      await db.destroy();
    })());

  try {
    const url = await service.listen(options.address ?? parseAddress(env.CONFIG_SERVICE_ADDRESS));
    return { service, registry, url, shutdown };
  } catch (error) {
    await shutdown().catch(() => undefined);
    throw new Error(`config service could not start: ${(error as Error).message}`, { cause: error });
  }
}
