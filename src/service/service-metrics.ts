import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ValueType } from '../../db/schema';
import type { ConfigPath } from '../flags/flag-decision';

/** Which path served a request; `none` for routes outside the flag (metrics, health, admin, 404s). */
export type ServedPath = ConfigPath | 'none';

export interface ServiceMetrics {
  /** One successful write through the API. */
  configChanged(path: ConfigPath, valueType: ValueType): void;
  /** One finished HTTP request; `route` is the route template (`/api/config/:key`), never the raw URL. */
  requestFinished(method: string, route: string, statusCode: number, path: ServedPath, seconds: number): void;
  faultInjected(): void;
}

/**
 * The service's own metrics (SPEC §8), beside the reader's and the flag's on the same registry. Every label
 * is bounded: route templates, methods, status codes, the served path, value types; never a user id, key or
 * raw URL. Gates read the unified path's error ratio as
 * `sum(rate(http_request_duration_seconds_count{config_path="unified",status_code=~"5.."}[1m]))
 *  / sum(rate(http_request_duration_seconds_count{config_path="unified"}[1m]))`.
 *
 * @example
 * const metrics = createServiceMetrics(registry, () => faults.rate());
 */
export function createServiceMetrics(registry: Registry, faultRate: () => number): ServiceMetrics {
  const changes = new Counter({
    name: 'config_changes_total',
    help: 'Config values written through the service, by the path that wrote them and value type.',
    labelNames: ['config_path', 'value_type'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration, by method, route template, status code and the config path that served it.',
    labelNames: ['method', 'route', 'status_code', 'config_path'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const faults = new Counter({
    name: 'config_service_injected_faults_total',
    help: 'Unified-path requests failed on purpose by the fault switch.',
    registers: [registry],
  });
  new Gauge({
    name: 'config_service_fault_rate',
    help: 'The fault switch: fraction of unified-path requests failed on purpose (0 in normal operation).',
    registers: [registry],
    collect() {
      this.set(faultRate());
    },
  });
  return {
    configChanged: (path, valueType) => changes.inc({ config_path: path, value_type: valueType }),
    requestFinished: (method, route, statusCode, path, seconds) =>
      duration.observe({ method, route, status_code: String(statusCode), config_path: path }, seconds),
    faultInjected: () => faults.inc(),
  };
}
