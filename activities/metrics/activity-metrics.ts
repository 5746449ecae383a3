import type { MetricMeter, MetricTags } from '@temporalio/common';

/**
 * One rollout metric an activity emits through the SDK's metric meter (SPEC §8), so it leaves the worker on
 * the same Prometheus endpoint as the SDK's own metrics. `labels` are the only label names it ever carries;
 * each takes a bounded set of values (never a rollout id, a user or free text). The SDK adds its own bounded
 * labels (`namespace`, `taskQueue`, `activityType`).
 */
export interface ActivityMetricSpec<L extends string = string> {
  name: string;
  kind: 'gauge' | 'counter';
  valueType: 'int' | 'float';
  labels: readonly L[];
  help: string;
}

export const GATE_VALUE = {
  name: 'rollout_gate_value',
  kind: 'gauge',
  valueType: 'float',
  labels: ['flag', 'environment', 'gate'],
  help: "The gate's last measured value (not set when the measurement had none or it was negative)",
} as const satisfies ActivityMetricSpec;

export const GATE_THRESHOLD = {
  name: 'rollout_gate_threshold',
  kind: 'gauge',
  valueType: 'float',
  labels: ['flag', 'environment', 'gate'],
  help: 'The threshold the gate judged its last measurement against',
} as const satisfies ActivityMetricSpec;

export const GATE_VERDICTS = {
  name: 'rollout_gate_verdicts_total',
  kind: 'counter',
  valueType: 'int',
  labels: ['flag', 'environment', 'gate', 'verdict'],
  help: 'Gate measurements by verdict (pass, fail, inconclusive)',
} as const satisfies ActivityMetricSpec;

export const ROWS_MIGRATED = {
  name: 'rollout_rows_migrated_total',
  kind: 'counter',
  valueType: 'int',
  labels: ['flag', 'environment', 'table'],
  help: 'Rows the data phases changed, by table',
} as const satisfies ActivityMetricSpec;

/** Every metric activities emit (the workflow's own are in workflows/rollout-metrics.ts). */
export const ACTIVITY_METRICS: readonly ActivityMetricSpec[] = [
  GATE_VALUE,
  GATE_THRESHOLD,
  GATE_VERDICTS,
  ROWS_MIGRATED,
];

/** The tables the data phases migrate: the only values of the `table` label. */
export const MIGRATED_TABLES = ['runtime_config', 'prompt_templates', 'model_catalog'] as const;
export type MigratedTable = (typeof MIGRATED_TABLES)[number];

/** The rollout's labels every rollout metric carries. */
export interface RolloutMetricLabels {
  flag: string;
  environment: string;
}

type LabelsOf<S> = S extends ActivityMetricSpec<infer L> ? L : never;

/**
 * The tags of one data point: exactly the spec's labels, taken from `values` (anything else in `values` is
 * left out), so no caller can add an unbounded label by passing a wider object.
 */
export function boundedTags<S extends ActivityMetricSpec>(
  spec: S,
  values: Record<LabelsOf<S>, string>,
): MetricTags {
  const tags: MetricTags = {};
  for (const label of spec.labels as readonly LabelsOf<S>[]) tags[label] = values[label];
  return tags;
}

/**
 * Emits activity metrics on one meter (an activity's `Context.metricMeter`). Metrics never fail a rollout:
 * a value the SDK refuses (its gauges take no negative numbers) is skipped, an error is logged once.
 */
export class ActivityMetrics {
  private readonly gauges = new Map<string, ReturnType<MetricMeter['createGauge']>>();
  private readonly counters = new Map<string, ReturnType<MetricMeter['createCounter']>>();
  private warned = false;

  constructor(
    private readonly meter: MetricMeter,
    /** Told about the first emission that failed (later ones are skipped quietly). */
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  set<S extends ActivityMetricSpec & { kind: 'gauge' }>(
    spec: S,
    values: Record<LabelsOf<S>, string>,
    value: number | null,
  ): void {
    if (value === null || !Number.isFinite(value) || value < 0) return;
    this.safely(() => {
      let gauge = this.gauges.get(spec.name);
      if (!gauge) {
        gauge = this.meter.createGauge(spec.name, spec.valueType, undefined, spec.help);
        this.gauges.set(spec.name, gauge);
      }
      gauge.set(value, boundedTags(spec, values));
    });
  }

  add<S extends ActivityMetricSpec & { kind: 'counter' }>(
    spec: S,
    values: Record<LabelsOf<S>, string>,
    increment: number,
  ): void {
    if (!Number.isFinite(increment) || increment <= 0) return;
    this.safely(() => {
      let counter = this.counters.get(spec.name);
      if (!counter) {
        counter = this.meter.createCounter(spec.name, undefined, spec.help);
        this.counters.set(spec.name, counter);
      }
      counter.add(Math.round(increment), boundedTags(spec, values));
    });
  }

  private safely(emit: () => void): void {
    try {
      emit();
    } catch (error) {
      if (!this.warned) this.onError(error);
      this.warned = true;
    }
  }
}
