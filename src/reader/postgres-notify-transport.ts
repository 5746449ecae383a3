import pg from 'pg';
import {
  decodeInvalidation,
  type InvalidationHandlers,
  type InvalidationTransport,
} from './invalidation-transport';
import { silentLogger, type ReaderLogger } from './reader-logger';
import { reconnectDelayMs, type BackoffOptions } from './reconnect-backoff';
import { withTimeout } from './with-timeout';

/** The channel migration 003's trigger notifies on every committed change to runtime_config. */
export const RUNTIME_CONFIG_CHANNEL = 'runtime_config_changed';

export const DEFAULT_LISTENER_APPLICATION_NAME = 'runtime-config-listener';

export interface PostgresNotifyTransportOptions {
  connectionString: string;
  /** `application_name` of the listener session, so an operator can find it in `pg_stat_activity`. */
  applicationName?: string;
  connectTimeoutMs?: number;
  /**
   * An idle LISTEN connection that dies silently (a dropped route, a failed-over server) sends no error, so
   * the listener runs `select 1` this often; a failure or no answer within `heartbeatTimeoutMs` reconnects.
   */
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  backoff?: BackoffOptions;
  logger?: ReaderLogger;
}

/** host:port/database, without credentials, for errors and logs. */
function describeServer(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.host}${url.pathname}`;
  } catch {
    return 'the configured server';
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Invalidation through Postgres LISTEN/NOTIFY on a dedicated connection (never a pool connection: a pooled
 * client is handed to other queries and its LISTEN would be lost or leak into them). Reconnects with backoff
 * and LISTENs again after any loss, then reports `onSubscribed` so the reader drops what it may have missed.
 *
 * @example
 * const transport = createPostgresNotifyTransport({ connectionString: env.DATABASE_URL });
 * const reader = createRuntimeConfigReader({ db, transport, registry, ttlMs: 30_000 });
 * await reader.start();
 */
export function createPostgresNotifyTransport(
  options: PostgresNotifyTransportOptions,
): InvalidationTransport {
  const applicationName = options.applicationName ?? DEFAULT_LISTENER_APPLICATION_NAME;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 15_000;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 5_000;
  const logger = options.logger ?? silentLogger;
  const server = describeServer(options.connectionString);

  let handlers: InvalidationHandlers | undefined;
  // The live client; a client that is no longer this one is finished and its late events are ignored.
  let client: pg.Client | undefined;
  let closed = false;
  let started = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let markFirstSubscription: () => void = () => undefined;
  const firstSubscription = new Promise<void>((resolve) => {
    markFirstSubscription = resolve;
  });

  function discard(c: pg.Client): void {
    c.removeAllListeners('notification');
    c.removeAllListeners('end');
    // pg emits 'error' on a broken client; without a listener that would crash the process.
    c.removeAllListeners('error');
    c.on('error', () => undefined);
    c.end().catch(() => undefined);
  }

  function lose(c: pg.Client, error: Error): void {
    if (client !== c) return;
    client = undefined;
    clearTimeout(heartbeatTimer);
    discard(c);
    if (closed) return;
    handlers?.onDisconnected(error);
    failures += 1;
    const delayMs = reconnectDelayMs(failures, options.backoff);
    logger.warn(
      { transport: 'postgres', server, applicationName, error: error.message, retryInMs: delayMs },
      'runtime config listener lost its Postgres connection; reconnecting',
    );
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delayMs);
  }

  function scheduleHeartbeat(c: pg.Client): void {
    heartbeatTimer = setTimeout(() => {
      // query_timeout (set on the client) bounds the wait for the answer.
      c.query('select 1').then(
        () => {
          if (client === c) scheduleHeartbeat(c);
        },
        (error: unknown) =>
          lose(c, new Error(`heartbeat on the listener connection failed: ${asError(error).message}`)),
      );
    }, heartbeatIntervalMs);
  }

  async function connect(): Promise<void> {
    if (closed) return;
    const c = new pg.Client({
      connectionString: options.connectionString,
      application_name: applicationName,
      connectionTimeoutMillis: connectTimeoutMs,
      query_timeout: heartbeatTimeoutMs,
      keepAlive: true,
    });
    client = c;
    c.on('error', (error) => lose(c, error));
    c.on('end', () => lose(c, new Error('the server closed the listener connection')));
    c.on('notification', (message) => {
      if (client !== c || message.channel !== RUNTIME_CONFIG_CHANNEL) return;
      const { invalidation, malformed } = decodeInvalidation(message.payload ?? '');
      if (malformed) {
        logger.warn({ transport: 'postgres' }, 'unreadable invalidation message; dropping the whole cache');
      }
      handlers?.onInvalidate(invalidation);
    });
    try {
      await c.connect();
      await c.query(`listen ${RUNTIME_CONFIG_CHANNEL}`);
    } catch (error) {
      lose(
        c,
        new Error(
          `connecting the config listener to Postgres at ${server} failed: ${asError(error).message}`,
        ),
      );
      return;
    }
    if (client !== c) return; // Lost or closed while subscribing.
    failures = 0;
    scheduleHeartbeat(c);
    logger.info({ transport: 'postgres', server, applicationName }, 'runtime config listener subscribed');
    handlers?.onSubscribed();
    markFirstSubscription();
  }

  return {
    name: 'postgres',
    start(startHandlers: InvalidationHandlers): Promise<void> {
      if (started) throw new Error('the Postgres invalidation transport was already started');
      started = true;
      handlers = startHandlers;
      void connect();
      return firstSubscription;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      clearTimeout(heartbeatTimer);
      markFirstSubscription(); // Nobody waits forever on a transport that was closed before it subscribed.
      const c = client;
      client = undefined;
      if (!c) return;
      c.removeAllListeners('notification');
      c.removeAllListeners('end');
      c.removeAllListeners('error');
      c.on('error', () => undefined);
      await withTimeout(c.end(), connectTimeoutMs, 'closing the config listener connection').catch(
        (error: unknown) =>
          logger.warn(
            { transport: 'postgres', error: asError(error).message },
            'listener did not close cleanly',
          ),
      );
    },
  };
}
