import { Redis } from 'ioredis';
import { toSnakeCase } from '../naming/to-snake-case';
import {
  decodeInvalidation,
  encodeInvalidation,
  type Invalidation,
  type InvalidationHandlers,
  type InvalidationTransport,
} from './invalidation-transport';
import { silentLogger, type ReaderLogger } from './reader-logger';
import { reconnectDelayMs, type BackoffOptions } from './reconnect-backoff';
import { withTimeout } from './with-timeout';

export const DEFAULT_REDIS_CHANNEL = 'runtime_config_changed';
export const DEFAULT_SUBSCRIBER_CONNECTION_NAME = 'runtime-config-subscriber';

export interface RedisTransportOptions {
  /** `redis://host:port/db`. */
  url: string;
  channel?: string;
  /** `CLIENT SETNAME` of the subscriber, so an operator can find it in `CLIENT LIST`. */
  connectionName?: string;
  connectTimeoutMs?: number;
  /** A subscribed connection is silent; a PING this often (answered within the timeout) proves it alive. */
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  backoff?: BackoffOptions;
  logger?: ReaderLogger;
}

/** host:port, without credentials, for errors and logs. */
function describeServer(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the configured server';
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Invalidation through Redis pub/sub, for deployments that already run Redis or whose writers are not the
 * database trigger. Writers publish with {@link publishInvalidation} after they commit. After a lost connection
 * it reconnects with backoff and subscribes again on `ready` (not ioredis' autoResubscribe), so the reader is
 * told exactly when the new subscription is live and can drop what it may have missed.
 *
 * @example
 * const transport = createRedisTransport({ url: 'redis://127.0.0.1:6379' });
 * const reader = createRuntimeConfigReader({ db, transport, registry, ttlMs: 30_000 });
 * await reader.start();
 */
export function createRedisTransport(options: RedisTransportOptions): InvalidationTransport {
  const channel = options.channel ?? DEFAULT_REDIS_CHANNEL;
  const connectionName = options.connectionName ?? DEFAULT_SUBSCRIBER_CONNECTION_NAME;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 15_000;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 5_000;
  const logger = options.logger ?? silentLogger;
  const server = describeServer(options.url);

  let handlers: InvalidationHandlers | undefined;
  let started = false;
  let closed = false;
  let subscribed = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let markFirstSubscription: () => void = () => undefined;
  const firstSubscription = new Promise<void>((resolve) => {
    markFirstSubscription = resolve;
  });

  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectionName,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // Bounds SUBSCRIBE and the heartbeat PING: no command waits forever on a half-open socket.
    commandTimeout: heartbeatTimeoutMs,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    // We reconnect ourselves on 'end' (below): ioredis' own retry timer cannot be cancelled cleanly, and a
    // disconnect() between its attempts arms a 2 s stream-destroy timer that holds the process open.
    retryStrategy: () => null,
  });

  function dropConnection(reason: string): void {
    logger.warn(
      { transport: 'redis', server, connectionName, error: reason },
      'dropping the Redis subscriber',
    );
    // The 'end' handler schedules the reconnect.
    redis.disconnect();
  }

  function scheduleHeartbeat(): void {
    heartbeatTimer = setTimeout(() => {
      redis.ping().then(
        () => {
          if (subscribed) scheduleHeartbeat();
        },
        (error: unknown) => {
          if (subscribed) dropConnection(`heartbeat PING failed: ${errorMessage(error)}`);
        },
      );
    }, heartbeatIntervalMs);
  }

  async function subscribe(): Promise<void> {
    try {
      await redis.subscribe(channel);
    } catch (error) {
      if (!closed) dropConnection(`SUBSCRIBE ${channel} failed: ${errorMessage(error)}`);
      return;
    }
    if (closed || redis.status !== 'ready') return;
    subscribed = true;
    failures = 0;
    scheduleHeartbeat();
    logger.info(
      { transport: 'redis', server, channel, connectionName },
      'runtime config subscriber subscribed',
    );
    handlers?.onSubscribed();
    markFirstSubscription();
  }

  // ioredis emits 'error' for every failed connect attempt, then 'end' (we turned its retries off).
  let lastError = 'connection closed';
  redis.on('error', (error: Error) => {
    lastError = error.message;
  });
  redis.on('ready', () => void subscribe());
  let wasSubscribed = false;
  redis.on('close', () => {
    clearTimeout(heartbeatTimer);
    wasSubscribed = subscribed;
    subscribed = false;
  });
  redis.on('end', () => {
    if (closed) return;
    const error = new Error(
      wasSubscribed
        ? `the Redis subscriber connection to ${server} was lost: ${lastError}`
        : `connecting the Redis subscriber to ${server} failed: ${lastError}`,
    );
    wasSubscribed = false;
    lastError = 'connection closed';
    handlers?.onDisconnected(error);
    failures += 1;
    const delayMs = reconnectDelayMs(failures, options.backoff);
    logger.warn(
      { transport: 'redis', server, connectionName, error: error.message, retryInMs: delayMs },
      'runtime config subscriber lost its Redis connection; reconnecting',
    );
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      // A failed attempt ends in 'end' again, which schedules the next one.
      if (!closed) redis.connect().catch(() => undefined);
    }, delayMs);
  });
  redis.on('message', (messageChannel: string, payload: string) => {
    if (messageChannel !== channel) return;
    const { invalidation, malformed } = decodeInvalidation(payload);
    if (malformed)
      logger.warn({ transport: 'redis' }, 'unreadable invalidation message; dropping the whole cache');
    handlers?.onInvalidate(invalidation);
  });

  return {
    name: 'redis',
    start(startHandlers: InvalidationHandlers): Promise<void> {
      if (started) throw new Error('the Redis invalidation transport was already started');
      started = true;
      handlers = startHandlers;
      // A failed first attempt ends in 'end' and is retried like any later loss.
      redis.connect().catch(() => undefined);
      return firstSubscription;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      subscribed = false;
      clearTimeout(heartbeatTimer);
      clearTimeout(retryTimer);
      markFirstSubscription();
      // Between attempts there is no socket to close.
      if (redis.status === 'end' || redis.status === 'wait') return;
      const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
      redis.disconnect();
      await withTimeout(ended, 5_000, 'closing the Redis subscriber').catch((error: unknown) =>
        logger.warn(
          { transport: 'redis', error: errorMessage(error) },
          'Redis subscriber did not close cleanly',
        ),
      );
    },
  };
}

export interface PublishInvalidationOptions {
  channel?: string;
  timeoutMs?: number;
}

/**
 * Tells every Redis-subscribed reader that a key changed. Call it after the write has committed (a reader
 * that reloads before the commit would cache the old value again). The key is normalized here, so any
 * spelling works. Returns how many subscribers received the message.
 *
 * @example
 * await setConfig(db, { key: 'maxTokens', userId: null, value: 512, valueType: 'number' });
 * await publishInvalidation(redis, { key: 'maxTokens', userId: null });
 */
export async function publishInvalidation(
  redis: Redis,
  invalidation: Invalidation,
  options: PublishInvalidationOptions = {},
): Promise<number> {
  const channel = options.channel ?? DEFAULT_REDIS_CHANNEL;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const message = encodeInvalidation(
    'all' in invalidation
      ? invalidation
      : { key: toSnakeCase(invalidation.key), userId: invalidation.userId },
  );
  try {
    return await withTimeout(redis.publish(channel, message), timeoutMs, 'PUBLISH');
  } catch (error) {
    throw new Error(
      `publishing a config invalidation on Redis channel "${channel}" failed: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
}
