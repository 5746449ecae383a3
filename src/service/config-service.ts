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
import type { ApiScope, ServiceApiToken } from '../config/service-api-tokens';
import type { UnifiedConfigFlag } from '../flags/unified-config-flag';
import type { Invalidation } from '../reader/invalidation-transport';
import type { RuntimeConfigReader } from '../reader/runtime-config-reader';
import { ConfigValueError } from '../config-values/typed-value';
import { SecretDecryptionError, type SecretBox } from '../secrets/secret-box';
import { warmUpCache, type WarmUpOptions } from './cache-warm-up';
import { createCallerAuthenticator, requireAnyScope, requireScope, type Caller } from './caller-auth';
import type { ConfigHandlers, HandlerResult, RequestContext } from './config-handlers';
import type { ConfigStoreDeps } from './config-store';
import { checkFaultRate, createFaultInjector, type FaultInjector } from './fault-injector';
import { assertJsonDepth } from './json-body-parser';
import { createLegacyHandlers } from './legacy-handlers';
import { checkReadiness, type ReadinessReport } from './readiness';
import { createRequestKeys, MAX_KEY_LENGTH } from './request-key';
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
    /** Set once the bearer token is verified; null on the open routes. */
    caller: Caller | null;
  }
}

/**
 * Longest URL path segment the router matches. Above the longest key (percent-encoding may triple it), so a key
 * of up to MAX_KEY_LENGTH characters reaches the handler; a longer segment is a 400 that does not quote it.
 */
const MAX_PATH_SEGMENT_LENGTH = MAX_KEY_LENGTH * 3;

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
  /**
   * The callers (SERVICE_API_TOKENS), at least one: every route but `/healthz`, `/readyz` and `/metrics` needs
   * a bearer token among them, with the scope the route needs.
   */
  apiTokens: readonly ServiceApiToken[];
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

/** Fastify's errors whose messages quote the URL: answered with a fixed text instead. */
const URL_ERRORS: Readonly<Record<string, string>> = {
  FST_ERR_MAX_PARAM_LENGTH: `a URL path segment is longer than ${MAX_PATH_SEGMENT_LENGTH} characters (config keys: at most ${MAX_KEY_LENGTH})`,
  FST_ERR_BAD_URL: 'the URL is not valid (malformed percent-encoding)',
};

/** A failure as the client sees it. Only messages written to be safe are passed on (no value is ever quoted). */
function describeFailure(error: unknown, requestId: string): { statusCode: number; message: string } {
  if (error instanceof ServiceError) return { statusCode: error.statusCode, message: error.message };
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && Object.hasOwn(URL_ERRORS, code)) {
    return { statusCode: 400, message: URL_ERRORS[code] as string };
  }
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

/**
 * The config service (SPEC §6): one set of URLs, two implementations. Per request the caller is
 * authenticated by its bearer token, the user comes from `x-user-id` (callers with the `users` scope only),
 * the flag decides, and the unified or the legacy handlers answer, saying which in the `x-config-path`
 * header, so a client never changes URL when its user joins or leaves the cohort.
 *
 * Routes and the scope each needs: `GET /api/config/:key`, `GET /api/models`, `GET /api/generation-defaults`
 * (`read`); `PUT /api/config/:key` (`write:user` or `write:global`, by the write's scope); `GET|POST
 * /admin/fault` (`admin`); open: `GET /metrics`, `GET /healthz`, `GET /readyz`. No token or an unknown one:
 * 401 with `WWW-Authenticate: Bearer`; a missing scope: 403.
 *
 * @example
 * const service = createConfigService({ db, reader, flag, secretBox, registry, logger }, { apiTokens: env.SERVICE_API_TOKENS ?? [] });
 * const url = await service.listen({ host: '127.0.0.1', port: 8080 });
 * // ... on SIGTERM:
 * await service.close();
 * await reader.close(); flag.close(); await db.destroy();
 */
export function createConfigService(deps: ConfigServiceDeps, options: ConfigServiceOptions): ConfigService {
  const { logger, registry } = deps;
  const authenticator = createCallerAuthenticator(options.apiTokens);
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
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PATH_SEGMENT_LENGTH },
    // The router's own refusals (a path segment too long, bad percent-encoding) quote the URL; they go through
    // the same error path as everything else instead.
    frameworkErrors: (error, request, reply) => sendFailure(error, request, reply),
  });
  app.decorateRequest('configPath', 'none');
  app.decorateRequest('caller', null);

  // Fastify's JSON parser (prototype-poisoning checks included), after a depth check: a deeply nested body
  // would overflow the stack of the recursive validation after it.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    try {
      assertJsonDepth(text);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    parseJson(request, text, done);
  });

  /** Route-level hook: the caller must present a valid token with one of `scopes`. */
  const requireCaller =
    (...scopes: ApiScope[]) =>
    async (request: FastifyRequest): Promise<void> => {
      const caller = authenticator.authenticate(request.raw.headersDistinct.authorization);
      request.caller = caller;
      requireAnyScope(caller, scopes);
    };

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

  function sendFailure(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const { statusCode, message } = describeFailure(error, request.id);
    const caller = request.caller?.name;
    if (statusCode >= 500) {
      // The original message goes to the log only: internal messages are written not to carry values, but
      // they may name internals a client has no business seeing.
      const cause = error instanceof Error ? error.message : String(error);
      request.log.error(
        { statusCode, error: cause, configPath: request.configPath, caller },
        'request failed',
      );
    } else {
      // The message the client got, which never quotes a value, rather than anything from the request.
      request.log.info({ statusCode, error: message, caller }, 'request rejected');
    }
    if (error instanceof ServiceError) void reply.headers(error.headers);
    void reply.code(statusCode).send({ error: message });
  }
  app.setErrorHandler((error, request, reply) => sendFailure(error, request, reply));

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
      const caller = request.caller as Caller;
      const userId = parseUserId(request.raw.headersDistinct[USER_ID_HEADER]);
      // Naming a user reads (or writes) that user's values: only a caller trusted to act for users may.
      if (userId !== undefined) requireScope(caller, 'users', `to send ${USER_ID_HEADER}`);
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
      const result = await operation(
        decision.path === 'unified' ? unified : legacy,
        { userId, caller },
        request,
      );
      void reply.code(result.statusCode);
      return result.body;
    };
  }

  const keyOf = (request: FastifyRequest): string => (request.params as { key: string }).key;

  // Each route carries its own authentication hook (not matched by URL prefix), so no spelling of a URL can
  // reach a handler around it. Hooks run before the body is read: an unauthenticated body is never parsed.
  const reading = { onRequest: requireCaller('read') };
  // Which write scope is checked once the body says whether the value is the user's or the global one.
  const writing = { onRequest: requireCaller('write:user', 'write:global') };
  app.get(
    '/api/config/:key',
    reading,
    dispatch((handlers, context, request) => handlers.getConfig(context, keyOf(request))),
  );
  app.put(
    '/api/config/:key',
    writing,
    dispatch((handlers, context, request) => handlers.putConfig(context, keyOf(request), request.body)),
  );
  app.get(
    '/api/models',
    reading,
    dispatch((handlers, context, request) => handlers.listModels(context, request.query)),
  );
  app.get(
    '/api/generation-defaults',
    reading,
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

  const administering = { onRequest: requireCaller('admin') };
  app.get('/admin/fault', administering, async () => ({ rate: faults.rate() }));
  app.post('/admin/fault', administering, async (request) => {
    const body = request.body as { rate?: unknown } | null | undefined;
    const rate = typeof body === 'object' && body !== null ? body.rate : undefined;
    try {
      faults.setRate(checkFaultRate(rate as number));
    } catch (error) {
      throw new ServiceError(400, `body must be {"rate": <0 to 1>}: ${(error as Error).message}`);
    }
    logger.warn(
      { rate: faults.rate(), caller: request.caller?.name },
      'fault switch changed through the admin route',
    );
    return { rate: faults.rate() };
  });

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
