import pg from 'pg';
import { describeServer } from './describe-server';
import { errorMessage } from '../logging/error-message';
import type { InvalidationTransport } from './invalidation-transport';
import { createSubscriberLifecycle, type SubscriberOptions } from './subscriber-lifecycle';

/** The channel migration 003's trigger notifies on every committed change to runtime_config. */
export const RUNTIME_CONFIG_CHANNEL = 'runtime_config_changed';

export const DEFAULT_LISTENER_APPLICATION_NAME = 'runtime-config-listener';

export interface PostgresNotifyTransportOptions extends SubscriberOptions {
  connectionString: string;
  /** `application_name` of the listener session, so an operator can find it in `pg_stat_activity`. */
  applicationName?: string;
}

/**
 * Stops listening to a finished client. pg emits 'error' on a broken client, and an 'error' with no listener
 * would crash the process, so a no-op listener stays.
 */
function detach(c: pg.Client): void {
  c.removeAllListeners('notification');
  c.removeAllListeners('end');
  c.removeAllListeners('error');
  c.on('error', () => undefined);
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
  const server = describeServer(options.connectionString, { withPath: true });
  const logFields = { server, applicationName };
  const lifecycle = createSubscriberLifecycle({ name: 'postgres', product: 'Postgres' }, options);

  // The live client; a client that is no longer this one is finished and its late events are ignored.
  let client: pg.Client | undefined;

  function lose(c: pg.Client, error: Error): void {
    if (client !== c) return;
    client = undefined;
    lifecycle.stopHeartbeat();
    detach(c);
    c.end().catch(() => undefined);
    lifecycle.lost(
      error,
      logFields,
      'runtime config listener lost its Postgres connection; reconnecting',
      () => void connect(),
    );
  }

  async function connect(): Promise<void> {
    if (lifecycle.closed) return;
    const c = new pg.Client({
      connectionString: options.connectionString,
      application_name: applicationName,
      connectionTimeoutMillis: lifecycle.connectTimeoutMs,
      // Bounds the heartbeat's `select 1`: no answer in time is a failed heartbeat.
      query_timeout: lifecycle.heartbeatTimeoutMs,
      keepAlive: true,
    });
    client = c;
    c.on('error', (error) => lose(c, error));
    c.on('end', () => lose(c, new Error('the server closed the listener connection')));
    c.on('notification', (message) => {
      if (client !== c || message.channel !== RUNTIME_CONFIG_CHANNEL) return;
      lifecycle.deliver(message.payload ?? '');
    });
    try {
      await c.connect();
      await c.query(`listen ${RUNTIME_CONFIG_CHANNEL}`);
    } catch (error) {
      lose(
        c,
        new Error(`connecting the config listener to Postgres at ${server} failed: ${errorMessage(error)}`),
      );
      return;
    }
    if (client !== c) return; // Lost or closed while subscribing.
    lifecycle.subscribed(
      {
        probe: () => c.query('select 1'),
        isCurrent: () => client === c,
        fail: (error) =>
          lose(c, new Error(`heartbeat on the listener connection failed: ${errorMessage(error)}`)),
      },
      logFields,
      'runtime config listener subscribed',
    );
  }

  async function disconnect(): Promise<void> {
    const c = client;
    client = undefined;
    if (!c) return;
    detach(c);
    await lifecycle.awaitEnd(
      c.end(),
      lifecycle.connectTimeoutMs,
      'closing the config listener connection',
      'listener did not close cleanly',
    );
  }

  return {
    name: 'postgres',
    start: (handlers) => lifecycle.start(handlers, () => void connect()),
    close: () => lifecycle.close(disconnect),
  };
}
