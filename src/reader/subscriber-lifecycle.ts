import { errorMessage } from '../logging/error-message';
import { decodeInvalidation, type InvalidationHandlers } from './invalidation-transport';
import { silentLogger, type ReaderLogger } from './reader-logger';
import { reconnectDelayMs, type BackoffOptions } from './reconnect-backoff';
import { withTimeout } from './with-timeout';

/** What every invalidation transport takes for its one subscriber connection. */
export interface SubscriberOptions {
  connectTimeoutMs?: number;
  /**
   * A subscribed connection is silent, and one that dies silently (a dropped route, a failed-over server)
   * sends no error, so the transport sends a probe this often (`select 1` on Postgres, a PING on Redis); a
   * failure or no answer within `heartbeatTimeoutMs` reconnects.
   */
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  backoff?: BackoffOptions;
  logger?: ReaderLogger;
}

/** The probe of one live subscription. */
export interface Heartbeat {
  /** One round trip on the subscriber connection; rejects when it fails or times out. */
  probe(): Promise<unknown>;
  /** Whether the probed connection is still the live subscription; a stale probe's outcome is ignored. */
  isCurrent(): boolean;
  /** The probe failed on the live subscription: drop the connection (the loss then schedules a reconnect). */
  fail(error: unknown): void;
}

/**
 * The part of a transport that does not depend on the server: handlers, start and close, the reconnect
 * backoff, the heartbeat timer, message delivery, and the promise of the first subscription. The transport
 * drives it from its connection's events and keeps only what is specific to its client library.
 */
export interface SubscriberLifecycle {
  readonly closed: boolean;
  readonly connectTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  /** Keeps the handlers and makes the first attempt; resolves on the first subscription, or on close. */
  start(handlers: InvalidationHandlers, connect: () => void): Promise<void>;
  /** A subscription went live: the backoff starts over, the heartbeat runs, and the handlers are told. */
  subscribed(heartbeat: Heartbeat, logFields: object, message: string): void;
  /** Cancels the next probe; the transport calls it as soon as its connection is gone. */
  stopHeartbeat(): void;
  /** The connection was lost or an attempt failed: the handlers are told and `reconnect` runs after backoff. */
  lost(error: Error, logFields: object, message: string, reconnect: () => void): void;
  /** Logs a warning with the transport's name as its `transport` field. */
  warn(logFields: object, message: string): void;
  /** One message from the wire; an unreadable one drops the whole cache. */
  deliver(payload: string): void;
  /** Stops every timer, releases `start`'s waiters and runs `disconnect`; only the first call does anything. */
  close(disconnect: () => Promise<void>): Promise<void>;
  /** Waits a bounded time for the connection to end; a slow or failed end is logged, not thrown. */
  awaitEnd(ended: Promise<unknown>, timeoutMs: number, what: string, message: string): Promise<void>;
}

export interface SubscriberIdentity {
  /** Metric label and the `transport` log field: `postgres` or `redis`. */
  name: string;
  /** The server's product name in messages: `Postgres` or `Redis`. */
  product: string;
}

/**
 * Creates the server-independent half of a transport.
 *
 * @example
 * const lifecycle = createSubscriberLifecycle({ name: 'redis', product: 'Redis' }, options);
 * return { name: 'redis', start: (h) => lifecycle.start(h, connect), close: () => lifecycle.close(end) };
 */
export function createSubscriberLifecycle(
  identity: SubscriberIdentity,
  options: SubscriberOptions,
): SubscriberLifecycle {
  const { name, product } = identity;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 15_000;
  const logger = options.logger ?? silentLogger;

  let handlers: InvalidationHandlers | undefined;
  let started = false;
  let closed = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let markFirstSubscription: () => void = () => undefined;
  const firstSubscription = new Promise<void>((resolve) => {
    markFirstSubscription = resolve;
  });

  function scheduleHeartbeat(heartbeat: Heartbeat): void {
    heartbeatTimer = setTimeout(() => {
      heartbeat.probe().then(
        () => {
          if (heartbeat.isCurrent()) scheduleHeartbeat(heartbeat);
        },
        (error: unknown) => {
          if (heartbeat.isCurrent()) heartbeat.fail(error);
        },
      );
    }, heartbeatIntervalMs);
  }

  return {
    get closed() {
      return closed;
    },
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 5_000,

    start(startHandlers, connect) {
      if (started) throw new Error(`the ${product} invalidation transport was already started`);
      started = true;
      handlers = startHandlers;
      connect();
      return firstSubscription;
    },

    subscribed(heartbeat, logFields, message) {
      failures = 0;
      scheduleHeartbeat(heartbeat);
      logger.info({ transport: name, ...logFields }, message);
      handlers?.onSubscribed();
      markFirstSubscription();
    },

    stopHeartbeat() {
      clearTimeout(heartbeatTimer);
    },

    lost(error, logFields, message, reconnect) {
      if (closed) return;
      handlers?.onDisconnected(error);
      failures += 1;
      const delayMs = reconnectDelayMs(failures, options.backoff);
      logger.warn({ transport: name, ...logFields, error: error.message, retryInMs: delayMs }, message);
      // close() cancels this timer, so a closed transport never reconnects.
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        reconnect();
      }, delayMs);
    },

    warn(logFields, message) {
      logger.warn({ transport: name, ...logFields }, message);
    },

    deliver(payload) {
      const { invalidation, malformed } = decodeInvalidation(payload);
      if (malformed) {
        logger.warn({ transport: name }, 'unreadable invalidation message; dropping the whole cache');
      }
      handlers?.onInvalidate(invalidation);
    },

    async close(disconnect) {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      clearTimeout(heartbeatTimer);
      markFirstSubscription(); // Nobody waits forever on a transport that was closed before it subscribed.
      await disconnect();
    },

    async awaitEnd(ended, timeoutMs, what, message) {
      await withTimeout(ended, timeoutMs, what).catch((error: unknown) =>
        logger.warn({ transport: name, error: errorMessage(error) }, message),
      );
    },
  };
}
