import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The reader's metrics (SPEC §8). No key or user id label: both are unbounded. Hits and misses are plain
 * numbers the reader bumps on its hot path (a prom-client `inc()` costs more than the cache lookup it
 * counts); the counters read them when scraped.
 */
export interface ReaderMetrics {
  hits: number;
  misses: number;
  readonly loadSeconds: Histogram;
  readonly invalidations: Counter<'transport'>;
  readonly resubscribes: Counter<'transport'>;
}

/** A counter that catches up, when scraped, with a plain number the hot path bumps. */
function registerScrapedCounter(registry: Registry, name: string, help: string, current: () => number): void {
  let reported = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const total = current();
      this.inc(total - reported);
      reported = total;
    },
  });
}

/**
 * Registers the reader's metrics on the given registry. One reader per registry: a second registration is
 * an error rather than two readers silently sharing (or splitting) one counter.
 *
 * @example
 * const registry = new Registry();
 * const metrics = createReaderMetrics(registry);
 */
export function createReaderMetrics(registry: Registry): ReaderMetrics {
  if (registry.getSingleMetric('config_cache_hits_total')) {
    throw new Error(
      'runtime config reader metrics are already registered on this registry (one reader each)',
    );
  }
  const metrics: ReaderMetrics = {
    hits: 0,
    misses: 0,
    loadSeconds: new Histogram({
      name: 'config_load_seconds',
      help: 'Time to load one config value from Postgres on a cache miss.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    invalidations: new Counter({
      name: 'config_invalidations_total',
      help: 'Invalidation messages received, by transport.',
      labelNames: ['transport'],
      registers: [registry],
    }),
    resubscribes: new Counter({
      name: 'config_invalidation_resubscribes_total',
      help: 'Times the invalidation subscription came back after a lost connection (the cache is dropped).',
      labelNames: ['transport'],
      registers: [registry],
    }),
  };
  registerScrapedCounter(
    registry,
    'config_cache_hits_total',
    'Reader lookups answered from the in-process cache.',
    () => metrics.hits,
  );
  registerScrapedCounter(
    registry,
    'config_cache_misses_total',
    'Reader lookups that loaded from Postgres.',
    () => metrics.misses,
  );
  return metrics;
}
