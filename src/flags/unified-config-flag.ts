import type { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { Unleash, UnleashEvents } from 'unleash-client';
import { silentLogger, type ReaderLogger } from '../reader/reader-logger';
import { createAtomicBackupStorage } from './atomic-backup-storage';
import { DECISIONS, NO_STATE_PATH, type FlagDecision, type UnifiedConfigOverride } from './flag-decision';
import { createFlagMetrics } from './flag-metrics';
import { errorMessage } from '../logging/error-message';

export interface UnifiedConfigFlagOptions {
  /** Unleash's base URL, e.g. `http://127.0.0.1:4242`; the client API under `/api/` is derived from it. */
  unleashUrl: string;
  /** A backend (client) API token; it also selects the Unleash environment. */
  clientToken: string;
  /** The flag to evaluate, the one the rollout ramps. */
  flagName: string;
  /** `ENABLE_UNIFIED_CONFIG`: `off` = kill switch (legacy for all), `on` = unified for all, unset = Unleash. */
  override?: UnifiedConfigOverride;
  /**
   * Directory of the backup file (`unleash-backup-<appName>.json`, unleash-client's format), rewritten
   * atomically on every change received and read at start, so a process started while Unleash is down serves
   * the last known state.
   * Default: `<os tmpdir>/unified-config-flag`.
   */
  backupDir?: string;
  /** Names this client in Unleash and the backup file; default `config-service`. */
  appName?: string;
  /** Polling interval; default 1,000 ms (the service passes `UNLEASH_REFRESH_INTERVAL_MS`). */
  refreshIntervalMs?: number;
  /** Bound on each request to Unleash; default 5,000 ms, at least 1,000 ms. */
  timeoutMs?: number;
  /** Receives `config_flag_evaluations_total`; one flag per registry. */
  registry: Registry;
  logger?: ReaderLogger;
  /** Report evaluation counts to Unleash (its "last seen" and usage views); default true. */
  sendUsageMetrics?: boolean;
}

/**
 * `live`: received from Unleash by this process; `backup`: loaded from the backup file and not yet confirmed
 * by Unleash; `none`: nothing known, every decision is the default.
 */
export type FlagStateOrigin = 'live' | 'backup' | 'none';

export interface FlagStatus {
  flagName: string;
  override: UnifiedConfigOverride | null;
  origin: FlagStateOrigin;
  /** Decisions are meaningful: an override is set, or some Unleash state (live or backup) is loaded. */
  ready: boolean;
  /** The loaded state defines the flag (false while unknown, or when the flag does not exist in Unleash). */
  defined: boolean;
  /** The last request to Unleash succeeded; `null` before the first one finished. */
  reachable: boolean | null;
  /** The last failure talking to Unleash (URL and cause, never the token). */
  lastError: string | null;
}

export interface UnifiedConfigFlag {
  readonly flagName: string;
  /** Loads the backup file and starts polling Unleash; idempotent. Decisions are the default until ready. */
  start(): void;
  /** Which path serves this user, and what decided; counted in `config_flag_evaluations_total`. */
  decide(userId: string | undefined): FlagDecision;
  /** `decide(userId).path === 'unified'`. */
  isEnabledFor(userId: string | undefined): boolean;
  /** Resolves true once ready (immediately with an override), false after `timeoutMs` or on close. */
  whenReady(timeoutMs: number): Promise<boolean>;
  status(): FlagStatus;
  /**
   * Stops polling and metrics reporting and closes the HTTP agent's sockets; idempotent. A request already in
   * flight (unleash-client cannot cancel one) completes or fails on its own; after it, unleash-client arms one
   * last poll timer that does nothing when it fires (and is unref'd, so it never holds a process open).
   */
  close(): void;
}

/**
 * The per-user switch between the legacy and the unified configuration path (SPEC §6), on unleash-client:
 * the user id goes into the context, so the flag's `flexibleRollout` strategy (stickiness `userId`) puts each
 * user in or out of the cohort exactly as every other client of the same flag does.
 *
 * While Unleash is unreachable the client keeps serving the last state it received; a process started while
 * Unleash is down loads that state from the backup file. With neither, every user gets the legacy path
 * (`NO_STATE_PATH`). `ENABLE_UNIFIED_CONFIG` overrides all of it without asking Unleash.
 *
 * @example
 * const flag = createUnifiedConfigFlag({
 *   unleashUrl: env.UNLEASH_URL, clientToken: env.UNLEASH_CLIENT_TOKEN, flagName: 'unified-config',
 *   override: env.ENABLE_UNIFIED_CONFIG, backupDir: env.UNLEASH_BACKUP_DIR, registry,
 * });
 * flag.start();
 * await flag.whenReady(5_000);
 * flag.decide('user-42'); // { path: 'unified', source: 'unleash' }
 * flag.close();
 */
export function createUnifiedConfigFlag(options: UnifiedConfigFlagOptions): UnifiedConfigFlag {
  const { flagName } = options;
  const override = options.override ?? null;
  const logger = options.logger ?? silentLogger;
  const counters = createFlagMetrics(options.registry);
  const backupDir = options.backupDir ?? path.join(os.tmpdir(), 'unified-config-flag');
  // unleash-client writes the backup with writeFile and fails on a missing directory; a single mkdir at
  // construction, before any request is served.
  mkdirSync(backupDir, { recursive: true });
  // unleash-client also uses the timeout as its retry ceiling, which must not be below the retry library's
  // 1 s floor ("minTimeout is greater than maxTimeout" fails every fetch otherwise).
  const timeoutMs = Math.max(1_000, options.timeoutMs ?? 5_000);
  const url = new URL('/api/', options.unleashUrl);

  // Our own agent instead of unleash-client's module-wide keep-alive one, so close() can close its sockets.
  const agentOptions = { keepAlive: true, timeout: timeoutMs };
  const agent = url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);

  const client = new Unleash({
    appName: options.appName ?? 'config-service',
    url: url.toString(),
    customHeaders: { Authorization: options.clientToken },
    storageProvider: createAtomicBackupStorage(backupDir),
    refreshInterval: options.refreshIntervalMs ?? 1_000,
    timeout: timeoutMs,
    disableMetrics: options.sendUsageMetrics === false,
    disableAutoStart: true,
    httpOptions: { agent: () => agent },
    // Several flags per process are normal in tests; the warning is about accidental re-creation.
    skipInstanceCountWarning: true,
  });

  let started = false;
  let closed = false;
  let ready = false;
  let synchronized = false;
  let reachable: boolean | null = null;
  let lastError: string | null = null;
  // Repeated failures (one per poll while Unleash is down) are logged once until the next success.
  let failureLogged = false;
  const readyWaiters = new Set<() => void>();

  function markReady(): void {
    if (ready) return;
    ready = true;
    logger.info(
      { flag: flagName, origin: synchronized ? 'live' : 'backup' },
      'unified config flag state loaded',
    );
    for (const wake of readyWaiters) wake();
  }

  function markReachable(): void {
    if (reachable === false) logger.info({ flag: flagName, unleash: url.origin }, 'Unleash reachable again');
    reachable = true;
    failureLogged = false;
  }

  function markFailure(message: string): void {
    reachable = false;
    lastError = message;
    if (failureLogged) return;
    failureLogged = true;
    logger.warn(
      {
        flag: flagName,
        unleash: url.origin,
        error: message,
        serving: ready
          ? synchronized
            ? 'last state received'
            : 'state from the backup file'
          : NO_STATE_PATH,
      },
      'unified config flag cannot reach Unleash; serving the last known state',
    );
  }

  client.on(UnleashEvents.Ready, markReady);
  client.on(UnleashEvents.Synchronized, () => {
    synchronized = true;
  });
  // Only unleash-client's own 'ready' makes the flag ready: it follows 'changed' by a tick, and before it the
  // client answers every isEnabled() with the fallback.
  client.on(UnleashEvents.Changed, () => {
    synchronized = true;
    markReachable();
  });
  client.on(UnleashEvents.Unchanged, markReachable);
  client.on(UnleashEvents.Error, (error: unknown) => markFailure(errorMessage(error)));
  client.on(UnleashEvents.Warn, (warning: unknown) => {
    // Backoff notices (429, 5xx) mean Unleash did not answer usefully; other warnings are worth a line.
    const message = errorMessage(warning);
    if (/Backing off|responded/i.test(message)) markFailure(message);
    else logger.warn({ flag: flagName, warning: message }, 'unleash-client warning');
  });

  function decide(userId: string | undefined): FlagDecision {
    let decision: FlagDecision;
    if (override !== null) {
      decision = override === 'on' ? DECISIONS.unified.kill_switch : DECISIONS.legacy.kill_switch;
    } else if (!ready || closed || client.getFeatureToggleDefinition(flagName) === undefined) {
      decision = DECISIONS[NO_STATE_PATH].default;
    } else {
      const enabled = client.isEnabled(flagName, userId === undefined ? {} : { userId });
      decision = enabled ? DECISIONS.unified.unleash : DECISIONS.legacy.unleash;
    }
    counters[decision.path][decision.source].inc();
    return decision;
  }

  return {
    flagName,

    start() {
      if (started || closed) return;
      started = true;
      // start() resolves after the first fetch attempt and the backup read; their failures arrive as events.
      client.start().catch((error: unknown) => markFailure(errorMessage(error)));
    },

    decide,

    isEnabledFor: (userId) => decide(userId).path === 'unified',

    whenReady(waitMs) {
      if (closed) return Promise.resolve(false);
      if (override !== null || ready) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          readyWaiters.delete(finish);
          resolve(!closed && (ready || override !== null));
        };
        const timer = setTimeout(finish, waitMs);
        readyWaiters.add(finish);
      });
    },

    status() {
      return {
        flagName,
        override,
        origin: ready ? (synchronized ? 'live' : 'backup') : 'none',
        ready: !closed && (override !== null || ready),
        defined: ready && client.getFeatureToggleDefinition(flagName) !== undefined,
        reachable,
        lastError,
      };
    },

    close() {
      if (closed) return;
      closed = true;
      for (const wake of [...readyWaiters]) wake();
      // unleash-client 6.12's destroy() removes every listener of its repository, but a fetch still in flight
      // (retrying a down server) then emits 'error' on it: with no listener EventEmitter throws, and the
      // polling timer's promise rejects unhandled, which crashes a Node process. A no-op listener left on the
      // repository absorbs that last error.
      const repository = (client as unknown as { repository?: EventEmitter }).repository;
      client.destroy();
      repository?.on('error', () => undefined);
      client.removeAllListeners();
      client.on(UnleashEvents.Error, () => undefined);
      // Idle keep-alive sockets go now; a socket still carrying a request goes when that request is done
      // (destroying it mid-request would only make unleash-client retry the request).
      for (const sockets of Object.values(agent.freeSockets))
        for (const socket of sockets ?? []) socket.destroy();
      agent.on('free', (socket) => socket.destroy());
    },
  };
}
