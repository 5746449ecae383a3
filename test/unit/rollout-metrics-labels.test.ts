import type { MetricMeter, MetricTags } from '@temporalio/common';
import {
  ACTIVITY_METRICS,
  ActivityMetrics,
  boundedTags,
  GATE_VERDICTS,
  MIGRATED_TABLES,
  ROWS_MIGRATED,
} from '../../activities/metrics/activity-metrics';
import { recordGateMeasurement } from '../../activities/metrics/gate-metrics';
import { countIncreases, countRowsMigrated } from '../../activities/metrics/rows-migrated';
import {
  METRIC_PHASES,
  metricTags,
  ROLLBACK_CAUSES,
  ROLLBACKS_METRIC,
  rollbackCause,
  WORKFLOW_METRICS,
} from '../../workflows/rollout-metrics';
import { RollbackRequested } from '../../workflows/rollout-waits';

/**
 * SPEC §8, issue 9: the worker's rollout metrics carry only bounded labels (flag, environment, gate name,
 * phase, table, verdict, cause), never a rollout id, a user or free text, so their series stay few however
 * many rollouts, measurements and operator messages there are.
 */

const BOUNDED_LABELS = new Set(['flag', 'environment', 'gate', 'phase', 'table', 'verdict', 'cause']);
const ALL = [...ACTIVITY_METRICS, ...WORKFLOW_METRICS];

/** A meter that keeps every data point, as `name{tags}` → value. */
function recordingMeter() {
  const points = new Map<string, number>();
  const key = (name: string, tags: MetricTags = {}) =>
    `${name}{${Object.entries(tags)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',')}}`;
  const meter = {
    createGauge: (name: string) => ({
      set: (value: number, tags?: MetricTags) => {
        if (value < 0) throw new Error('MetricGauge value must be non-negative');
        points.set(key(name, tags), value);
      },
    }),
    createCounter: (name: string) => ({
      add: (value: number, tags?: MetricTags) =>
        points.set(key(name, tags), (points.get(key(name, tags)) ?? 0) + value),
    }),
  } as unknown as MetricMeter;
  return { meter, points };
}

test('every rollout metric is named rollout_*, counters end in _total, and every label is a bounded one', () => {
  const names = ALL.map((spec) => spec.name);
  expect(new Set(names).size).toBe(names.length);
  expect(names.sort()).toEqual([
    'rollout_gate_threshold',
    'rollout_gate_value',
    'rollout_gate_verdicts_total',
    'rollout_percent',
    'rollout_phase',
    'rollout_rollbacks_total',
    'rollout_rows_migrated_total',
  ]);
  for (const spec of ALL) {
    expect(spec.name).toMatch(/^rollout_[a-z_]+$/);
    expect(spec.name.endsWith('_total')).toBe(spec.kind === 'counter');
    expect(spec.labels.slice(0, 2)).toEqual(['flag', 'environment']);
    for (const label of spec.labels) expect(BOUNDED_LABELS.has(label)).toBe(true);
  }
});

test('tags are exactly the spec labels: a rollout id, a user or a reason passed along is left out', () => {
  const wide = {
    flag: 'unified-config',
    environment: 'production',
    gate: 'errors',
    verdict: 'pass',
    rolloutId: 'r-20261202-ab12',
    userId: 'user-42',
    reason: 'free text from an operator',
  };
  expect(boundedTags(GATE_VERDICTS, wide)).toEqual({
    flag: 'unified-config',
    environment: 'production',
    gate: 'errors',
    verdict: 'pass',
  });
  expect(metricTags(ROLLBACKS_METRIC, { ...wide, cause: 'operator' })).toEqual({
    flag: 'unified-config',
    environment: 'production',
    cause: 'operator',
  });
});

test('the rollback cause is one of a fixed set whatever the cause text says', () => {
  expect(rollbackCause(new RollbackRequested('gate:compare', 'gate_failed: gate compare …').message)).toBe(
    'gate_failed',
  );
  expect(rollbackCause(new RollbackRequested('escalation', 'escalated (no traffic)').message)).toBe(
    'escalation',
  );
  expect(rollbackCause(new RollbackRequested('alice@ops-host', 'checkout errors').message)).toBe('operator');
  expect(rollbackCause(new RollbackRequested('Alice Smith', 'a: b: c').message)).toBe('operator');
  expect(rollbackCause('cancelled')).toBe('cancelled');
  expect(rollbackCause('backup of runtime_config failed: connection refused')).toBe('failure');
  expect(rollbackCause('')).toBe('failure');
  const causes = new Set(
    Array.from({ length: 200 }, (_unused, i) =>
      rollbackCause(i % 2 ? `rollback requested by user-${i}: reason ${i}` : `error ${i}`),
    ),
  );
  for (const cause of causes) expect(ROLLBACK_CAUSES).toContain(cause);
  expect(causes.size).toBe(2);
  expect(METRIC_PHASES).toHaveLength(8);
});

test('a thousand rollouts of one flag and a thousand measurements make the same few series', () => {
  const { meter, points } = recordingMeter();
  const metrics = new ActivityMetrics(meter);
  for (let rollout = 0; rollout < 1_000; rollout++) {
    for (const gate of ['compare', 'health']) {
      recordGateMeasurement(metrics, { flag: 'unified-config', environment: 'production' }, gate, {
        verdict: rollout % 10 === 0 ? 'inconclusive' : 'pass',
        value: rollout / 1_000,
        threshold: 0.05,
      });
    }
  }
  // value + threshold per gate, and one verdict counter per gate and verdict seen.
  expect(points.size).toBe(2 * 2 + 2 * 2);
  expect(
    points.get(
      'rollout_gate_verdicts_total{environment=production,flag=unified-config,gate=compare,verdict=pass}',
    ),
  ).toBe(900);
  expect(points.get('rollout_gate_value{environment=production,flag=unified-config,gate=health}')).toBe(
    0.999,
  );
});

test('values the SDK refuses are skipped, and a failing meter never fails the caller', () => {
  const { meter, points } = recordingMeter();
  const metrics = new ActivityMetrics(meter);
  recordGateMeasurement(metrics, { flag: 'f', environment: 'e' }, 'g', {
    verdict: 'inconclusive',
    value: null,
    threshold: -1,
  });
  expect([...points.keys()]).toEqual([
    'rollout_gate_verdicts_total{environment=e,flag=f,gate=g,verdict=inconclusive}',
  ]);

  const errors: unknown[] = [];
  const broken = new ActivityMetrics(
    {
      createCounter: () => {
        throw new Error('no runtime');
      },
    } as unknown as MetricMeter,
    (error) => errors.push(error),
  );
  for (const table of MIGRATED_TABLES) broken.add(ROWS_MIGRATED, { flag: 'f', environment: 'e', table }, 10);
  expect(errors).toHaveLength(1);
});

test('countRowsMigrated adds the batch to the table series of the activity meter', () => {
  const { meter, points } = recordingMeter();
  const context = { metricMeter: meter, log: { warn: () => undefined } } as never;
  countRowsMigrated(context, { flag: 'f', environment: 'e' }, 'runtime_config', 500);
  countRowsMigrated(context, { flag: 'f', environment: 'e' }, 'runtime_config', 250);
  countRowsMigrated(context, { flag: 'f', environment: 'e' }, 'prompt_templates', 0);
  expect(Object.fromEntries(points)).toEqual({
    'rollout_rows_migrated_total{environment=e,flag=f,table=runtime_config}': 750,
  });
});

test('running totals from checkpoints count each row once, from the checkpoint an attempt resumes at', () => {
  const added: number[] = [];
  const counted = countIncreases((rows) => added.push(rows), 1_000);
  for (const total of [1_000, 1_500, 1_500, 2_250, 2_000, 3_000]) counted(total);
  expect(added).toEqual([500, 750, 750]);
});
