import { timingSafeEqual } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../../db/schema';
import type { UnifiedConfigFlag } from '../flags/unified-config-flag';
import type { Invalidation } from '../reader/invalidation-transport';
import type { RuntimeConfigReader } from '../reader/runtime-config-reader';
import { ConfigValueError } from '../reader/typed-value';
import { SecretDecryptionError, type SecretBox } from '../secrets/secret-box';
import { warmUpCache, type WarmUpOptions } from './cache-warm-up';
import type { ConfigHandlers, HandlerResult, RequestContext } from './config-handlers';
import type { ConfigStoreDeps } from './config-store';
import { checkFaultRate, createFaultInjector, type FaultInjector } from './fault-injector';
import { createLegacyHandlers } from './legacy-handlers';
import { checkReadiness, type ReadinessReport } from './readiness';
import { createRequestKeys } from './request-key';
import { ServiceError } from './service-error';
import { createServiceMetrics, type ServedPath } from './service-metrics';
import { createUnifiedHandlers } from './unified-handlers';
import { parseUserId, USER_ID_HEADER } from './user-id';

/** Response header naming the implementation that served a request: `unified` or `legacy`. */
export const CONFIG_PATH_HEADER = 'x-config-path';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the config routes once the flag decided; `none` elsewhere. A metric label, never a user. */
    configPath: ServedPath;
  }
}

export interface ConfigServiceDeps {
  db: Kysely<Database>;
  reader: RuntimeConfigReader;
  flag: UnifiedConfigFlag;
  secretBox: SecretBox;
  /** Serves `/metrics`; the reader and the flag registered theirs on it too. */
  registry: Registry;
  logger: Logger;
  /** For a transport that needs the writer to announce writes (Redis); must log its own failures, not throw. */
  publishInvalidation?: (invalidation: Invalidation) => Promise<unknown>;
}

export interface ConfigServiceOptions {
  /** Initial fault rate (`SERVICE_FAULT_RATE`); default 0. */
  faultRate?: number;
  /** Randomness of the fault switch; injectable for deterministic tests. */
  random?: () => number;
  /** Bearer token of the admin routes (`SERVICE_ADMIN_TOKEN`); without one they are not registered. */
  adminToken?: string;
  /** Log one line per request (fastify's request logging); default false, it costs throughput. */
  logRequests?: boolean;
  /** Bound on each statement a request runs; default 5,000 ms. */
  queryTimeoutMs?: number;
  /** Bound on `/readyz`'s database check; default 2,000 ms. */
  readinessTimeoutMs?: number;
  /** How long startup waits for the reader's first subscription before warming anyway; default 10,000 ms. */
  readerStartTimeoutMs?: number;
  /** Cache warm-up at startup; `false` skips it. Default 1,000 keys, 4 at a time. */
  warmUp?: Partial<WarmUpOptions> | false;
  /** Longest wait for in-flight requests at shutdown before their connections are cut; default 10,000 ms. */
  drainTimeoutMs?: number;
  /** How long a write waits for this instance's own cache to drop the old value; default 1,000 ms. */
  ownInvalidationTimeoutMs?: number;
  /** Largest request body; default 64 KiB. */
  bodyLimitBytes?: number;
}

export interface ConfigService {
  readonly app: FastifyInstance;
  readonly faults: FaultInjector;
  /**
   * Listens, then (in the background) starts the flag, subscribes the reader and warms the cache; `/readyz`
   * answers 503 until all of that is done. Resolves with the URL once listening.
   */
  listen(address: { host: string; port: number }): Promise<string>;
  /** Settles when the background startup has finished (successfully or not). */
  whenStarted(): Promise<void>;
  readiness(): Promise<ReadinessReport>;
  /**
   * Graceful shutdown: `/readyz` turns 503, the listener closes (no new connections), requests in flight
   * finish (up to `drainTimeoutMs`, then their connections are cut). The dependencies stay open: their owner
   * closes them after this resolves. Idempotent.
   */
  close(): Promise<void>;
}

/** A failure as the client sees it. Only messages written to be safe are passed on (no value is ever quoted). */
function describeFailure(error: unknown, requestId: string): { statusCode: number; message: string } {
  if (error instanceof ServiceError) return { statusCode: error.statusCode, message: error.message };
  // The reader's and the secret box's messages name the key and scope, never a value.
  if (error instanceof ConfigValueError || error instanceof SecretDecryptionError) {
    return { statusCode: 500, message: error.message };
  }
  const fastifyError = error as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (
    typeof fastifyError.code === 'string' &&
    fastifyError.code.startsWith('FST_') &&
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    // Fastify's own client errors (invalid JSON, unsupported media type, body too large) do not quote bodies.
    return { statusCode: fastifyError.statusCode, message: String(fastifyError.message) };
  }
  return { statusCode: 500, message: `internal error (request ${requestId}; see the service log)` };
}

function bearerTokenMatches(header: string | undefined, expected: Buffer): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '', 'utf8');
  // timingSafeEqual needs equal lengths; comparing with itself keeps the time independent of the mismatch.
  return given.length === expected.length
    ? timingSafeEqual(given, expected)
    : !timingSafeEqual(expected, expected);
}

/**
 * The config service (SPEC §6): one set of URLs, two implementations. Per request the user comes from
 * `x-user-id`, the flag decides, and the unified or the legacy handlers answer, saying which in the
 * `x-config-path` header, so a client never changes URL when its user joins or leaves the cohort.
 *
 * Routes: `GET|PUT /api/config/:key`, `GET /api/models`, `GET /api/generation-defaults`, `GET /metrics`,
 * `GET /healthz`, `GET /readyz`, and with an admin token `GET|POST /admin/fault`.
 *
 * @example
 * const service = createConfigService({ db, reader, flag, secretBox, registry, logger }, { faultRate: 0 });
 * const url = await service.listen({ host: '127.0.0.1', port: 8080 });
 * // ... on SIGTERM:
 * await service.close();
 * await reader.close(); flag.close(); await db.destroy();
 */
export function createConfigService(
  deps: ConfigServiceDeps,
  options: ConfigServiceOptions = {},
): ConfigService {
  const { logger, registry } = deps;
  const faults = createFaultInjector(options.faultRate ?? 0, options.random);
  const metrics = createServiceMetrics(registry, () => faults.rate());
  const store: ConfigStoreDeps = {
    db: deps.db,
    reader: deps.reader,
    secretBox: deps.secretBox,
    publishInvalidation: deps.publishInvalidation,
    queryTimeoutMs: options.queryTimeoutMs ?? 5_000,
    ownInvalidationTimeoutMs: options.ownInvalidationTimeoutMs ?? 1_000,
    keys: createRequestKeys(),
  };
  const unified = createUnifiedHandlers(store, metrics);
  const legacy = createLegacyHandlers(store, metrics);
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;

  let warm = options.warmUp === false;
  let shuttingDown = false;
  let started: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance's type the default one.
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: options.logRequests !== true }),
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    // Requests arriving on a kept-alive connection while closing get 503 + `Connection: close`.
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.decorateRequest('configPath', 'none');

  app.addHook('onResponse', async (request, reply) => {
    metrics.requestFinished(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      request.configPath,
      reply.elapsedTime / 1000,
    );
  });

  // A response finished during shutdown closes its connection: otherwise the client's keep-alive socket
  // stays open and the drain waits for the client's idle timeout instead of ending with the last request.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (shuttingDown) void reply.header('connection', 'close');
    return payload;
  });

  app.setErrorHandler((error, request, reply) => {
    const { statusCode, message } = describeFailure(error, request.id);
    if (statusCode >= 500) {
      // The original message goes to the log only: internal messages are written not to carry values, but
      // they may name internals a client has no business seeing.
      const cause = error instanceof Error ? error.message : String(error);
      request.log.error({ statusCode, error: cause, configPath: request.configPath }, 'request failed');
    } else {
      request.log.info({ statusCode, error: message }, 'request rejected');
    }
    void reply.code(statusCode).send({ error: message });
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` });
  });

  /** Wraps one API operation: user, flag decision, path header, fault switch, then that path's handler. */
  function dispatch(
    operation: (
      handlers: ConfigHandlers,
      context: RequestContext,
      request: FastifyRequest,
    ) => Promise<HandlerResult>,
  ) {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      const userId = parseUserId(request.headers[USER_ID_HEADER]);
      const decision = deps.flag.decide(userId);
      request.configPath = decision.path;
      void reply.header(CONFIG_PATH_HEADER, decision.path);
      if (decision.path === 'unified' && faults.shouldFail()) {
        metrics.faultInjected();
        throw new ServiceError(
          500,
          `injected fault (the fault switch fails ${faults.rate()} of unified requests)`,
        );
      }
      const result = await operation(decision.path === 'unified' ? unified : legacy, { userId }, request);
      void reply.code(result.statusCode);
      return result.body;
    };
  }

  const keyOf = (request: FastifyRequest): string => (request.params as { key: string }).key;

  app.get(
    '/api/config/:key',
    dispatch((handlers, context, request) => handlers.getConfig(context, keyOf(request))),
  );
  app.put(
    '/api/config/:key',
    dispatch((handlers, context, request) => handlers.putConfig(context, keyOf(request), request.body)),
  );
  app.get(
    '/api/models',
    dispatch((handlers, context, request) => handlers.listModels(context, request.query)),
  );
  app.get(
    '/api/generation-defaults',
    dispatch((handlers, context) => handlers.generationDefaults(context)),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const report = await service.readiness();
    void reply.code(report.ready ? 200 : 503);
    return report;
  });
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', registry.contentType);
    return registry.metrics();
  });

  if (options.adminToken !== undefined) {
    const expected = Buffer.from(options.adminToken, 'utf8');
    // Attached to each admin route itself (not matched by URL prefix), so no spelling of a URL can reach an
    // admin handler around it.
    const requireAdmin = async (request: FastifyRequest): Promise<void> => {
      if (!bearerTokenMatches(request.headers.authorization, expected)) {
        throw new ServiceError(401, 'admin routes need "Authorization: Bearer <SERVICE_ADMIN_TOKEN>"');
      }
    };
    app.get('/admin/fault', { onRequest: requireAdmin }, async () => ({ rate: faults.rate() }));
    app.post('/admin/fault', { onRequest: requireAdmin }, async (request) => {
      const body = request.body as { rate?: unknown } | null | undefined;
      const rate = typeof body === 'object' && body !== null ? body.rate : undefined;
      try {
        faults.setRate(checkFaultRate(rate as number));
      } catch (error) {
        throw new ServiceError(400, `body must be {"rate": <0 to 1>}: ${(error as Error).message}`);
      }
      logger.warn({ rate: faults.rate() }, 'fault switch changed through the admin route');
      return { rate: faults.rate() };
    });
  }

  /**
   * Startup after `listen`: `/healthz` answers at once, `/readyz` once this is done. No seeding here on
   * purpose: the model catalogue is seeded by the rollout (SPEC §5 phase 5) under a ledger its rollback
   * undoes; rows a service wrote on its own at start would be invisible to that rollback.
   */
  async function startInBackground(): Promise<void> {
    deps.flag.start();
    try {
      await deps.reader.start({ timeoutMs: options.readerStartTimeoutMs ?? 10_000 });
    } catch (error) {
      // The transport keeps retrying; /readyz stays 503 until it subscribes.
      logger.warn({ error: (error as Error).message }, 'config reader not subscribed yet; warming up anyway');
    }
    if (options.warmUp !== false) {
      try {
        const report = await warmUpCache(deps.db, deps.reader, {
          maxKeys: options.warmUp?.maxKeys ?? 1_000,
          concurrency: options.warmUp?.concurrency ?? 4,
          timeoutMs: options.warmUp?.timeoutMs ?? 10_000,
        });
        logger.info(report, 'config cache warmed up');
      } catch (error) {
        // Best effort: a cold cache is slower, not wrong.
        logger.warn(
          { error: (error as Error).message },
          'config cache warm-up failed; values load on demand',
        );
      }
    }
    warm = true;
  }

  const service: ConfigService = {
    app,
    faults,

    async listen({ host, port }) {
      const url = await app.listen({ host, port });
      started ??= startInBackground();
      logger.info({ url, faultRate: faults.rate(), flag: deps.flag.status() }, 'config service listening');
      return url;
    },

    whenStarted: () => started ?? Promise.resolve(),

    readiness: () =>
      checkReadiness({
        db: deps.db,
        reader: deps.reader,
        flag: deps.flag,
        timeoutMs: options.readinessTimeoutMs ?? 2_000,
        warm: () => warm,
        shuttingDown: () => shuttingDown,
      }),

    close() {
      closing ??= (async () => {
        shuttingDown = true;
        logger.info({ drainTimeoutMs }, 'config service shutting down: draining in-flight requests');
        const cut = setTimeout(() => {
          logger.warn(
            { drainTimeoutMs },
            'requests still in flight after the drain timeout; closing their connections',
          );
          app.server.closeAllConnections();
        }, drainTimeoutMs);
        try {
          await app.close();
        } finally {
          clearTimeout(cut);
        }
        // Startup work still running (a warm-up query) finishes, bounded by its own timeouts, before the
        // owner closes the database under it.
        await started?.catch(() => undefined);
        logger.info('config service stopped');
      })();
      return closing;
    },
  };
  return service;
}
