import { Counter, type Registry } from 'prom-client';
import type { ConfigPath, FlagSource } from './flag-decision';

/** One pre-bound counter child per (result, source): six series, and no label lookup per request. */
export type FlagEvaluationCounters = Readonly<
  Record<ConfigPath, Readonly<Record<FlagSource, { inc(): void }>>>
>;

/**
 * Registers `config_flag_evaluations_total{result, source}` (SPEC §8). No user label: user ids are unbounded,
 * and which users a flag enables is Unleash's to report, not a metric's.
 *
 * @example
 * const counters = createFlagMetrics(registry);
 * counters.unified.unleash.inc();
 */
export function createFlagMetrics(registry: Registry): FlagEvaluationCounters {
  const existing = registry.getSingleMetric('config_flag_evaluations_total');
  if (existing) {
    throw new Error('unified config flag metrics are already registered on this registry (one flag each)');
  }
  const counter = new Counter({
    name: 'config_flag_evaluations_total',
    help: 'Unified-config flag decisions, by the path chosen and what decided it (Unleash, the kill switch, or the default).',
    labelNames: ['result', 'source'] as const,
    registers: [registry],
  });
  const bind = (result: ConfigPath) => ({
    unleash: counter.labels(result, 'unleash'),
    kill_switch: counter.labels(result, 'kill_switch'),
    default: counter.labels(result, 'default'),
  });
  // Binding creates the series at zero, so a rate over them exists before the first decision of each kind.
  return { unified: bind('unified'), legacy: bind('legacy') };
}
