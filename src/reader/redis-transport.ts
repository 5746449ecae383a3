import { Redis } from 'ioredis';
import { toSnakeCase } from '../naming/to-snake-case';
import { describeServer } from './describe-server';
import { errorMessage } from '../logging/error-message';
import { encodeInvalidation, type Invalidation, type InvalidationTransport } from './invalidation-transport';
import { createSubscriberLifecycle, type SubscriberOptions } from './subscriber-lifecycle';
import { withTimeout } from './with-timeout';

export const DEFAULT_REDIS_CHANNEL = 'runtime_config_changed';
export const DEFAULT_SUBSCRIBER_CONNECTION_NAME = 'runtime-config-subscriber';

export interface RedisTransportOptions extends SubscriberOptions {
  /** `redis://host:port/db`. */
  url: string;
  channel?: string;
  /** `CLIENT SETNAME` of the subscriber, so an operator can find it in `CLIENT LIST`. */
  connectionName?: string;
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
  const server = describeServer(options.url);
  const logFields = { server, connectionName };
  const lifecycle = createSubscriberLifecycle({ name: 'redis', product: 'Redis' }, options);
  let subscribed = false;

  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectionName,
    connectTimeout: lifecycle.connectTimeoutMs,
    // Bounds SUBSCRIBE and the heartbeat PING: no command waits forever on a half-open socket.
    commandTimeout: lifecycle.heartbeatTimeoutMs,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    // We reconnect ourselves on 'end' (below): ioredis' own retry timer cannot be cancelled cleanly, and a
    // disconnect() between its attempts arms a stream-destroy timer that holds the process open.
    retryStrategy: () => null,
  });

  function dropConnection(reason: string): void {
    lifecycle.warn({ ...logFields, error: reason }, 'dropping the Redis subscriber');
    // The 'end' handler schedules the reconnect.
    redis.disconnect();
  }

  async function subscribe(): Promise<void> {
    try {
      await redis.subscribe(channel);
    } catch (error) {
      if (!lifecycle.closed) dropConnection(`SUBSCRIBE ${channel} failed: ${errorMessage(error)}`);
      return;
    }
    if (lifecycle.closed || redis.status !== 'ready') return;
    subscribed = true;
    lifecycle.subscribed(
      {
        probe: () => redis.ping(),
        isCurrent: () => subscribed,
        fail: (error) => dropConnection(`heartbeat PING failed: ${errorMessage(error)}`),
      },
      { server, channel, connectionName },
      'runtime config subscriber subscribed',
    );
  }

  // ioredis emits 'error' for every failed connect attempt, then 'end' (we turned its retries off).
  let lastError = 'connection closed';
  redis.on('error', (error: Error) => {
    lastError = error.message;
  });
  redis.on('ready', () => void subscribe());
  let wasSubscribed = false;
  redis.on('close', () => {
    lifecycle.stopHeartbeat();
    wasSubscribed = subscribed;
    subscribed = false;
  });
  redis.on('end', () => {
    const error = new Error(
      wasSubscribed
        ? `the Redis subscriber connection to ${server} was lost: ${lastError}`
        : `connecting the Redis subscriber to ${server} failed: ${lastError}`,
    );
    wasSubscribed = false;
    lastError = 'connection closed';
    // A failed attempt ends in 'end' again, which schedules the next one.
    lifecycle.lost(
      error,
      logFields,
      'runtime config subscriber lost its Redis connection; reconnecting',
      () => void redis.connect().catch(() => undefined),
    );
  });
  redis.on('message', (messageChannel: string, payload: string) => {
    if (messageChannel === channel) lifecycle.deliver(payload);
  });

  async function disconnect(): Promise<void> {
    subscribed = false;
    // Between attempts there is no socket to close.
    if (redis.status === 'end' || redis.status === 'wait') return;
    const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
    redis.disconnect();
    await lifecycle.awaitEnd(
      ended,
      5_000,
      'closing the Redis subscriber',
      'Redis subscriber did not close cleanly',
    );
  }

  return {
    name: 'redis',
    // A failed first attempt ends in 'end' and is retried like any later loss.
    start: (handlers) => lifecycle.start(handlers, () => void redis.connect().catch(() => undefined)),
    close: () => lifecycle.close(disconnect),
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
