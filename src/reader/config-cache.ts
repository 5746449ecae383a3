import type { Clock } from './coarse-clock';

interface Entry<T> {
  readonly value: T;
  readonly expiresAt: number;
}

/** Everything cached for one normalized key: the global value and each user's effective value. */
interface KeySlot<T> {
  readonly key: string;
  /** Bumped by every invalidation of this key; a load that started under an older generation is not stored. */
  generation: number;
  global: Entry<T> | undefined;
  readonly users: Map<string, Entry<T>>;
  /** In-flight loads, so concurrent misses for the same (key, user) share one query. */
  readonly loading: Map<string | null, Promise<T>>;
}

export interface ConfigCacheOptions {
  /** How long an entry is served without any invalidation: the bound on staleness when push is down. */
  ttlMs: number;
  /**
   * Each entry lives a random 0 to `ttlJitter` × TTL less than the TTL (never more), so a cache filled at
   * startup does not expire, and reload, all at once. Default 0.
   */
  ttlJitter?: number;
  random?: () => number;
  /** Past this many entries the cache is dropped whole (simple, and never serves anything stale). */
  maxEntries: number;
  clock: Clock;
  /** Maps any spelling of a key to its normal form; called once per new spelling, not per lookup. */
  normalize: (key: string) => string;
}

/**
 * The reader's in-process cache: (normalized key, user) → effective value, with TTL, per-key and total
 * invalidation, and single-flight loads that never store a value read before an invalidation that arrived
 * while they ran (that value may predate the write the invalidation announced).
 *
 * A user's entry holds that user's *effective* value (their own, or the global one they fall back to), so
 * invalidating a global value drops every user's entry for the key, and a user's change drops only theirs.
 *
 * Raw spellings are mapped to their slot directly (`aliases`), so a hit costs two Map lookups and no
 * normalization.
 *
 * @example
 * const cache = new ConfigCache<string>({ ttlMs: 30_000, maxEntries: 100_000, clock, normalize: toSnakeCase });
 * const value = cache.peek('maxTokens', null) ?? (await cache.load('maxTokens', null, loadFromDb));
 */
export class ConfigCache<T> {
  private slots = new Map<string, KeySlot<T>>();
  private aliases = new Map<string, KeySlot<T>>();
  private entries = 0;

  constructor(private readonly options: ConfigCacheOptions) {}

  get size(): number {
    return this.entries;
  }

  /** The cached, unexpired value, or `undefined`; never loads. The hot path: keep it allocation-free. */
  peek(rawKey: string, userId: string | null): T | undefined {
    const slot = this.aliases.get(rawKey);
    if (slot === undefined) return undefined;
    const entry = userId === null ? slot.global : slot.users.get(userId);
    if (entry === undefined || entry.expiresAt <= this.options.clock.now()) return undefined;
    return entry.value;
  }

  /**
   * Loads through `loader` (given the normalized key) and caches the result unless the key was invalidated
   * meanwhile. A rejected load is not cached. Concurrent calls for the same (key, user) share one load.
   */
  load(
    rawKey: string,
    userId: string | null,
    loader: (key: string, userId: string | null) => Promise<T>,
  ): Promise<T> {
    const slot = this.slotFor(rawKey);
    const pending = slot.loading.get(userId);
    if (pending) return pending;
    const generation = slot.generation;
    const promise = loader(slot.key, userId)
      .then((value) => {
        if (slot.generation === generation) this.store(slot, userId, value);
        return value;
      })
      .finally(() => {
        if (slot.loading.get(userId) === promise) slot.loading.delete(userId);
      });
    slot.loading.set(userId, promise);
    return promise;
  }

  /** Drops one user's entry for a normalized key, or with `userId` null the key's global and every user's. */
  invalidate(key: string, userId: string | null): void {
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    slot.generation += 1;
    if (userId === null) {
      this.entries -= slot.users.size + (slot.global ? 1 : 0);
      slot.global = undefined;
      slot.users.clear();
      slot.loading.clear();
    } else {
      if (slot.users.delete(userId)) this.entries -= 1;
      slot.loading.delete(userId);
    }
  }

  /** Drops everything, and keeps any load already running from storing what it read. */
  invalidateAll(): void {
    for (const slot of this.slots.values()) slot.generation += 1;
    this.slots = new Map();
    this.aliases = new Map();
    this.entries = 0;
  }

  private slotFor(rawKey: string): KeySlot<T> {
    const aliased = this.aliases.get(rawKey);
    if (aliased !== undefined) return aliased;
    const key = this.options.normalize(rawKey);
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = { key, generation: 0, global: undefined, users: new Map(), loading: new Map() };
      this.slots.set(key, slot);
    }
    // Callers choose the spellings; bound the alias table like the entries.
    if (this.aliases.size >= this.options.maxEntries) this.aliases.clear();
    this.aliases.set(rawKey, slot);
    return slot;
  }

  private store(slot: KeySlot<T>, userId: string | null, value: T): void {
    let target = slot;
    if (this.entries >= this.options.maxEntries) {
      this.invalidateAll();
      target = this.slotFor(slot.key);
    }
    const { ttlMs, ttlJitter = 0, random = Math.random } = this.options;
    const lifetime = ttlJitter > 0 ? ttlMs * (1 - ttlJitter * random()) : ttlMs;
    const entry: Entry<T> = { value, expiresAt: this.options.clock.now() + lifetime };
    if (userId === null) {
      if (target.global === undefined) this.entries += 1;
      target.global = entry;
    } else {
      if (!target.users.has(userId)) this.entries += 1;
      target.users.set(userId, entry);
    }
  }
}
