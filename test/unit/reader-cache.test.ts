import { ConfigCache } from '../../src/reader/config-cache';
import { toSnakeCase } from '../../src/naming/to-snake-case';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  let now = 1_000;
  const normalized: string[] = [];
  const cache = new ConfigCache<string>({
    ttlMs: options.ttlMs ?? 100,
    maxEntries: options.maxEntries ?? 1_000,
    clock: { now: () => now },
    normalize: (key) => {
      normalized.push(key);
      return toSnakeCase(key);
    },
  });
  const loads: { key: string; userId: string | null }[] = [];
  const loader = (value: string) => (key: string, userId: string | null) => {
    loads.push({ key, userId });
    return Promise.resolve(value);
  };
  return {
    cache,
    loads,
    loader,
    normalized,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('ConfigCache', () => {
  it('loads on a miss with the normalized key, then serves every spelling from the cache', async () => {
    const { cache, loads, loader, normalized } = setup();
    expect(cache.peek('maxTokens', null)).toBeUndefined();
    await expect(cache.load('maxTokens', null, loader('512'))).resolves.toBe('512');
    expect(loads).toEqual([{ key: 'max_tokens', userId: null }]);
    expect(cache.peek('maxTokens', null)).toBe('512');
    expect(cache.peek('maxTokens', null)).toBe('512');
    // A new spelling is normalized once and then finds the same slot.
    await cache.load('max-tokens', null, loader('ignored'));
    expect(cache.peek('max-tokens', null)).toBe('ignored');
    expect(normalized).toEqual(['maxTokens', 'max-tokens']);
    expect(cache.size).toBe(1);
  });

  it('expires entries after the TTL', async () => {
    const { cache, loader, advance } = setup({ ttlMs: 100 });
    await cache.load('k', null, loader('v'));
    advance(99);
    expect(cache.peek('k', null)).toBe('v');
    advance(1);
    expect(cache.peek('k', null)).toBeUndefined();
  });

  it('keeps users apart, drops one user on a user invalidation and everyone on a global one', async () => {
    const { cache, loader } = setup();
    await cache.load('k', null, loader('global'));
    await cache.load('k', 'u1', loader('u1'));
    await cache.load('k', 'u2', loader('u2'));
    await cache.load('other', null, loader('o'));
    expect(cache.peek('k', 'u1')).toBe('u1');
    expect(cache.size).toBe(4);

    cache.invalidate('k', 'u1');
    expect(cache.peek('k', 'u1')).toBeUndefined();
    expect(cache.peek('k', 'u2')).toBe('u2');
    expect(cache.peek('k', null)).toBe('global');
    expect(cache.size).toBe(3);

    cache.invalidate('k', null);
    expect(cache.peek('k', 'u2')).toBeUndefined();
    expect(cache.peek('k', null)).toBeUndefined();
    expect(cache.peek('other', null)).toBe('o');
    expect(cache.size).toBe(1);

    cache.invalidate('never_cached', null); // No slot: nothing to do.
    cache.invalidateAll();
    expect(cache.peek('other', null)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('shares one load between concurrent misses', async () => {
    const { cache } = setup();
    const pending = deferred<string>();
    let calls = 0;
    const loader = () => {
      calls += 1;
      return pending.promise;
    };
    const a = cache.load('k', null, loader);
    const b = cache.load('K', null, loader);
    pending.resolve('v');
    await expect(Promise.all([a, b])).resolves.toEqual(['v', 'v']);
    expect(calls).toBe(1);
  });

  it.each([
    ['the key', (cache: ConfigCache<string>) => cache.invalidate('k', null)],
    ['the user', (cache: ConfigCache<string>) => cache.invalidate('k', 'u1')],
    ['everything', (cache: ConfigCache<string>) => cache.invalidateAll()],
  ])('does not store a value whose load overlapped an invalidation of %s', async (_what, invalidate) => {
    const { cache, loader } = setup();
    const stale = deferred<string>();
    const first = cache.load('k', 'u1', () => stale.promise);
    invalidate(cache);
    // A load after the invalidation does not join the one that predates it.
    const second = cache.load('k', 'u1', loader('fresh'));
    stale.resolve('stale');
    await expect(first).resolves.toBe('stale'); // The caller asked before the invalidation arrived.
    await expect(second).resolves.toBe('fresh');
    expect(cache.peek('k', 'u1')).toBe('fresh');
  });

  it('does not cache a failed load', async () => {
    const { cache, loader } = setup();
    await expect(cache.load('k', null, () => Promise.reject(new Error('db down')))).rejects.toThrow(
      'db down',
    );
    expect(cache.peek('k', null)).toBeUndefined();
    await expect(cache.load('k', null, loader('v'))).resolves.toBe('v');
    expect(cache.peek('k', null)).toBe('v');
  });

  it('drops everything when it would grow past maxEntries, and keeps the new entry', async () => {
    const { cache, loader } = setup({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) await cache.load(key, null, loader(key));
    expect(cache.size).toBe(3);
    await cache.load('d', null, loader('d'));
    expect(cache.size).toBe(1);
    expect(cache.peek('a', null)).toBeUndefined();
    expect(cache.peek('d', null)).toBe('d');
  });

  it('refreshes an expired entry in place without growing', async () => {
    const { cache, loader, advance } = setup({ ttlMs: 10 });
    await cache.load('k', 'u', loader('v1'));
    advance(20);
    await cache.load('k', 'u', loader('v2'));
    expect(cache.peek('k', 'u')).toBe('v2');
    expect(cache.size).toBe(1);
  });

  it('with jitter, expires each entry somewhat early, never late', async () => {
    let now = 0;
    const draws = [0, 0.5, 0.999];
    const cache = new ConfigCache<string>({
      ttlMs: 1_000,
      ttlJitter: 0.1,
      random: () => draws.shift() ?? 0,
      maxEntries: 10,
      clock: { now: () => now },
      normalize: toSnakeCase,
    });
    for (const key of ['a', 'b', 'c']) await cache.load(key, null, () => Promise.resolve(key));
    now = 900;
    expect(['a', 'b', 'c'].map((key) => cache.peek(key, null))).toEqual(['a', 'b', 'c']);
    now = 901;
    expect(['a', 'b', 'c'].map((key) => cache.peek(key, null))).toEqual(['a', 'b', undefined]);
    now = 950;
    expect(['a', 'b', 'c'].map((key) => cache.peek(key, null))).toEqual(['a', undefined, undefined]);
    now = 1_000;
    expect(cache.peek('a', null)).toBeUndefined();
  });
});
