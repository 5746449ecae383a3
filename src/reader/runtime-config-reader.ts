import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import { findEffectiveConfigRow, type EffectiveConfigRow } from '../../db/runtime-config-queries';
import type { Database } from '../../db/schema';
import { toSnakeCase } from '../naming/to-snake-case';
import type { SecretBox } from '../secrets/secret-box';
import { isSecretKey } from '../secrets/secret-keys';
import { createCoarseClock, type Clock, type CoarseClock } from './coarse-clock';
import { ConfigCache } from './config-cache';
import type { Invalidation, InvalidationTransport } from './invalidation-transport';
import { createReaderMetrics } from './reader-metrics';
import { silentLogger, type ReaderLogger } from './reader-logger';
import { ConfigValueError, parseStoredValue, type ConfigValue } from '../config-values/typed-value';
import { withTimeout } from './with-timeout';

export interface GetOptions {
  /** The user whose value wins over the global one; omit for the global value. */
  userId?: string;
}

/**
 * `starting`: not subscribed yet; `subscribed`: push invalidation is live; `disconnected`: the transport is
 * reconnecting and cached values are bounded by the TTL alone; `ttl-only`: no transport configured.
 */
export type ReaderStatus = 'starting' | 'subscribed' | 'disconnected' | 'ttl-only' | 'closed';

export interface RuntimeConfigReader {
  /**
   * Subscribes the transport; resolves once push invalidation is live. If that takes longer than `timeoutMs`
   * it rejects naming the transport, while the transport keeps retrying and reads keep working on the TTL.
   */
  start(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * The effective value of a key for a user (their own, else the global one), parsed by `value_type`;
   * `undefined` when neither exists. Any spelling of the key works. Rejects for a secret (use `getSecret`) and
   * for a stored value that does not parse (a `ConfigValueError` naming the key).
   */
  get(key: string, options?: GetOptions): Promise<ConfigValue | undefined>;
  /** A secret, decrypted; `undefined` when not set. The only way plaintext secrets leave the reader. */
  getSecret(key: string, options?: GetOptions): Promise<string | undefined>;
  /** Called after the cache applied an invalidation (a message, or everything after a resubscribe). */
  onInvalidation(listener: (invalidation: Invalidation) => void): () => void;
  status(): ReaderStatus;
  /** Closes the transport and stops every timer; the database handle stays the caller's. */
  close(): Promise<void>;
}

export interface RuntimeConfigReaderDeps {
  db: Kysely<Database>;
  /** `null` turns push invalidation off: values are then only as fresh as the TTL. */
  transport: InvalidationTransport | null;
  /** Receives the SPEC §8 metrics; one reader per registry. */
  registry: Registry;
  /** Needed only by `getSecret`. */
  secretBox?: SecretBox;
  /** Longest time a value is served without a reload; the bound on staleness while push is down. */
  ttlMs: number;
  /** Entries expire up to this fraction of the TTL early, spreading reloads. Default 0.1; 0 for exact. */
  ttlJitter?: number;
  /** Bound on one load from Postgres. Default 5,000 ms. */
  loadTimeoutMs?: number;
  /** Default 100,000 (key, user) entries. */
  maxEntries?: number;
  /** For tests; defaults to a coarse monotonic clock (see coarse-clock.ts). */
  clock?: Clock;
  logger?: ReaderLogger;
}

/** What the cache holds per (key, user); a secret stays ciphertext until `getSecret` asks for it. */
type Resolved =
  | { kind: 'missing' }
  | { kind: 'value'; value: ConfigValue }
  | { kind: 'secret'; ciphertext: string | undefined; where: string }
  | { kind: 'invalid'; error: ConfigValueError };

const MISSING: Resolved = { kind: 'missing' };

function describe(key: string, row: EffectiveConfigRow): string {
  return `config key "${key}" (${row.user_id === null ? 'global' : 'user'} value, row ${row.id})`;
}

function resolveRow(key: string, row: EffectiveConfigRow | undefined): Resolved {
  // By name as well as by type: a legacy row may hold a provider key typed as 'string', and `get` refuses a
  // secret-named key even when it is not set, so callers cannot come to rely on reading one through it.
  if (row === undefined)
    return isSecretKey(key) ? { kind: 'secret', ciphertext: undefined, where: key } : MISSING;
  const where = describe(key, row);
  if (row.value_type === 'secret' || isSecretKey(key))
    return { kind: 'secret', ciphertext: row.value, where };
  try {
    return { kind: 'value', value: parseStoredValue(row.value, row.value_type, where) };
  } catch (error) {
    if (error instanceof ConfigValueError) return { kind: 'invalid', error };
    throw error;
  }
}

class SecretAccessError extends Error {
  constructor(key: string) {
    super(`config key "${key}" is a secret: read it with getSecret(), never get()`);
    this.name = 'SecretAccessError';
  }
}

function unwrap(rawKey: string, resolved: Resolved): ConfigValue | undefined {
  switch (resolved.kind) {
    case 'value':
      return resolved.value;
    case 'missing':
      return undefined;
    case 'secret':
      throw new SecretAccessError(toSnakeCase(rawKey));
    case 'invalid':
      throw resolved.error;
  }
}

/**
 * The runtime config reader services call on every request (SPEC §6): normalized keys, user value then global,
 * typed values, secrets only through `getSecret`, an in-process cache with a TTL floor and push invalidation.
 * After the transport resubscribes (a lost connection) the whole cache is dropped, so an invalidation sent
 * while it was down can never leave a stale value behind.
 *
 * @example
 * const reader = createRuntimeConfigReader({
 *   db, registry, ttlMs: 30_000,
 *   transport: createPostgresNotifyTransport({ connectionString: env.DATABASE_URL }),
 * });
 * await reader.start();
 * const maxTokens = await reader.get('maxTokens', { userId: 'user-42' }); // reads max_tokens
 * await reader.close();
 */
export function createRuntimeConfigReader(deps: RuntimeConfigReaderDeps): RuntimeConfigReader {
  if (!(deps.ttlMs > 0)) throw new Error(`runtime config reader: ttlMs must be positive, got ${deps.ttlMs}`);
  const { db, transport } = deps;
  const logger = deps.logger ?? silentLogger;
  const loadTimeoutMs = deps.loadTimeoutMs ?? 5_000;
  const metrics = createReaderMetrics(deps.registry);
  let ownClock: CoarseClock | undefined;
  const clock: Clock =
    deps.clock ?? (ownClock = createCoarseClock(Math.min(100, Math.max(1, deps.ttlMs / 20))));
  const cache = new ConfigCache<Resolved>({
    ttlMs: deps.ttlMs,
    ttlJitter: deps.ttlJitter ?? 0.1,
    maxEntries: deps.maxEntries ?? 100_000,
    clock,
    normalize: toSnakeCase,
  });
  const listeners = new Set<(invalidation: Invalidation) => void>();
  let state: ReaderStatus = transport ? 'starting' : 'ttl-only';
  let startPromise: Promise<void> | undefined;
  let subscribedBefore = false;
  let lastTransportError: string | undefined;

  function announce(invalidation: Invalidation): void {
    for (const listener of listeners) {
      try {
        listener(invalidation);
      } catch (error) {
        logger.error({ error: String(error) }, 'runtime config invalidation listener threw');
      }
    }
  }

  async function loadResolved(key: string, userId: string | null): Promise<Resolved> {
    ownClock?.refresh();
    const started = performance.now();
    let row: EffectiveConfigRow | undefined;
    try {
      row = await withTimeout(findEffectiveConfigRow(db, key, userId), loadTimeoutMs, 'the query');
    } catch (error) {
      throw new Error(`loading config key "${key}" from Postgres failed: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      metrics.loadSeconds.observe((performance.now() - started) / 1000);
    }
    return resolveRow(key, row);
  }

  function lookup(key: string, userId: string | null): Resolved | Promise<Resolved> {
    const cached = cache.peek(key, userId);
    if (cached !== undefined) {
      metrics.hits += 1;
      return cached;
    }
    if (toSnakeCase(key) === '') {
      throw new Error(`config key ${JSON.stringify(key)} has no name once normalized`);
    }
    metrics.misses += 1;
    return cache.load(key, userId, loadResolved);
  }

  const reader: RuntimeConfigReader = {
    start(options = {}): Promise<void> {
      if (!transport || state === 'closed') return Promise.resolve();
      const timeoutMs = options.timeoutMs ?? 10_000;
      startPromise ??= transport.start({
        onInvalidate(invalidation) {
          if ('all' in invalidation) cache.invalidateAll();
          else cache.invalidate(invalidation.key, invalidation.userId);
          metrics.invalidations.inc({ transport: transport.name });
          announce(invalidation);
        },
        onSubscribed() {
          // Before this moment the subscription was not live (first start or a lost connection): anything
          // cached may have missed its invalidation.
          if (subscribedBefore) metrics.resubscribes.inc({ transport: transport.name });
          subscribedBefore = true;
          if (state !== 'closed') state = 'subscribed';
          cache.invalidateAll();
          announce({ all: true });
        },
        onDisconnected(error) {
          // The transport logs each loss; the reader only remembers the cause for a failed start.
          lastTransportError = error.message;
          if (state !== 'closed') state = 'disconnected';
        },
      });
      return withTimeout(
        startPromise,
        timeoutMs,
        `subscribing the ${transport.name} invalidation transport`,
      ).catch((error: unknown) => {
        const cause = lastTransportError ? ` (last error: ${lastTransportError})` : '';
        throw new Error(`${(error as Error).message}${cause}; reads fall back to the ${deps.ttlMs} ms TTL`, {
          cause: error,
        });
      });
    },

    async get(key, options) {
      const resolved = lookup(key, options?.userId ?? null);
      return unwrap(key, resolved instanceof Promise ? await resolved : resolved);
    },

    async getSecret(key, options) {
      const resolved = await lookup(key, options?.userId ?? null);
      switch (resolved.kind) {
        case 'missing':
          return undefined;
        case 'secret':
          if (resolved.ciphertext === undefined) return undefined;
          if (!deps.secretBox) {
            throw new Error(`config key "${toSnakeCase(key)}" is a secret and the reader has no secret box`);
          }
          return deps.secretBox.decrypt(resolved.ciphertext, resolved.where);
        case 'value':
          throw new Error(`config key "${toSnakeCase(key)}" is not a secret: read it with get()`);
        case 'invalid':
          throw resolved.error;
      }
    },

    onInvalidation(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    status: () => state,

    async close() {
      if (state === 'closed') return;
      state = 'closed';
      ownClock?.stop();
      listeners.clear();
      cache.invalidateAll();
      await transport?.close();
    },
  };
  return reader;
}
