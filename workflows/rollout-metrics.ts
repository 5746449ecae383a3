import { metricMeter } from '@temporalio/workflow';
import type { RolloutPhase } from './rollout-status';

/**
 * One rollout metric the workflow emits through the SDK's workflow metric meter (SPEC §8). The meter sends
 * nothing while the workflow replays, so a worker that takes a rollout over (or replays it after a restart)
 * does not count its past again. `labels` are the only label names it carries, each with a bounded set of
 * values; the SDK adds `namespace`, `taskQueue` and `workflowType`.
 */
export interface WorkflowMetricSpec<L extends string = string> {
  name: string;
  kind: 'gauge' | 'counter';
  labels: readonly L[];
  help: string;
}

export const PERCENT_METRIC = {
  name: 'rollout_percent',
  kind: 'gauge',
  labels: ['flag', 'environment'],
  help: 'The flag percent Unleash last confirmed (0 once a rollback confirmed the flag off)',
} as const satisfies WorkflowMetricSpec;

export const PHASE_METRIC = {
  name: 'rollout_phase',
  kind: 'gauge',
  labels: ['flag', 'environment', 'phase'],
  help: 'The rollout phase: 1 for the current one, 0 for the one it left',
} as const satisfies WorkflowMetricSpec;

export const ROLLBACKS_METRIC = {
  name: 'rollout_rollbacks_total',
  kind: 'counter',
  labels: ['flag', 'environment', 'cause'],
  help: 'Rollbacks started, by cause (gate_failed, operator, escalation, failure, cancelled)',
} as const satisfies WorkflowMetricSpec;

/** Every metric the workflow emits (the activities' own are in activities/metrics/activity-metrics.ts). */
export const WORKFLOW_METRICS: readonly WorkflowMetricSpec[] = [
  PERCENT_METRIC,
  PHASE_METRIC,
  ROLLBACKS_METRIC,
];

/** Every value of the `phase` label. */
export const METRIC_PHASES: readonly RolloutPhase[] = [
  'preflight',
  'backup',
  'migrate-keys',
  'migrate-templates',
  'seed-models',
  'ramp',
  'rollback',
  'complete',
];

/**
 * Every value of the `cause` label: a gate's failure, an operator's request (signal, update, CLI), an expired
 * escalation, a failed phase, a cancelled workflow. A drift pause is not a rollback: it waits for an operator,
 * whose rollback then counts as `operator`.
 */
export const ROLLBACK_CAUSES = ['gate_failed', 'operator', 'escalation', 'failure', 'cancelled'] as const;
export type RollbackCause = (typeof ROLLBACK_CAUSES)[number];

/**
 * The cause label of a rollback from the saga's cause text (`rollback_started`'s `details.cause`): `cancelled`
 * for a cancel, `rollback requested by <actor>: …` (`RollbackRequested`) for a request, where the gate's and the
 * escalation's actors are `gate:<name>` and `escalation`; anything else is a phase that failed. The text itself
 * (free, from operators and errors) never becomes a label.
 */
export function rollbackCause(causeText: string): RollbackCause {
  if (causeText === 'cancelled') return 'cancelled';
  const prefix = 'rollback requested by ';
  if (!causeText.startsWith(prefix)) return 'failure';
  const actor = causeText.slice(prefix.length);
  if (actor.startsWith('gate:')) return 'gate_failed';
  if (actor.startsWith('escalation:')) return 'escalation';
  return 'operator';
}

type LabelsOf<S> = S extends WorkflowMetricSpec<infer L> ? L : never;

/** Exactly the spec's labels, from `values` (anything else in `values` is left out). */
export function metricTags<S extends WorkflowMetricSpec>(
  spec: S,
  values: Record<LabelsOf<S>, string>,
): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const label of spec.labels as readonly LabelsOf<S>[]) tags[label] = values[label];
  return tags;
}

/** The rollout's labels every rollout metric carries. */
export interface RolloutMetricLabels {
  flag: string;
  environment: string;
}

/**
 * The workflow's metrics for one rollout. Emitting never changes what the workflow does (no commands), so it
 * needs no `patched()`; a metric the SDK refuses is dropped rather than failing the workflow task.
 */
export class RolloutMetrics {
  constructor(private readonly labels: RolloutMetricLabels) {}

  /** The percent Unleash confirmed. */
  percent(percent: number): void {
    this.gauge(PERCENT_METRIC, { ...this.labels }, percent);
  }

  /** Leaves `left` (0) and enters `entered` (1); the same phase again (a continued run) ends at 1. */
  phase(left: RolloutPhase | null, entered: RolloutPhase): void {
    if (left !== null) this.gauge(PHASE_METRIC, { ...this.labels, phase: left }, 0);
    this.gauge(PHASE_METRIC, { ...this.labels, phase: entered }, 1);
  }

  /** A rollback started, counted by its cause (see {@link rollbackCause}). */
  rollback(causeText: string): void {
    const tags = metricTags(ROLLBACKS_METRIC, { ...this.labels, cause: rollbackCause(causeText) });
    this.safely(() =>
      metricMeter.createCounter(ROLLBACKS_METRIC.name, undefined, ROLLBACKS_METRIC.help).add(1, tags),
    );
  }

  private gauge<S extends WorkflowMetricSpec & { kind: 'gauge' }>(
    spec: S,
    values: Record<LabelsOf<S>, string>,
    value: number,
  ): void {
    if (!Number.isFinite(value) || value < 0) return;
    const tags = metricTags(spec, values);
    this.safely(() => metricMeter.createGauge(spec.name, 'int', undefined, spec.help).set(value, tags));
  }

  private safely(emit: () => void): void {
    try {
      emit();
    } catch {
      // Metrics are an outside view: a refused data point must never fail (and so retry) a workflow task.
    }
  }
}
