import type { GateMeasurement } from '../../src/gates/gate-measurement';
import {
  GATE_THRESHOLD,
  GATE_VALUE,
  GATE_VERDICTS,
  type ActivityMetrics,
  type RolloutMetricLabels,
} from './activity-metrics';

/**
 * One gate measurement in the worker's metrics: its value and threshold as gauges (the last measurement
 * wins), its verdict counted. The gate name is a key of the plan's `gates`, so its values are bounded.
 */
export function recordGateMeasurement(
  metrics: ActivityMetrics,
  labels: RolloutMetricLabels,
  gate: string,
  measurement: Pick<GateMeasurement, 'verdict' | 'value' | 'threshold'>,
): void {
  const series = { ...labels, gate };
  metrics.set(GATE_VALUE, series, measurement.value);
  metrics.set(GATE_THRESHOLD, series, measurement.threshold);
  metrics.add(GATE_VERDICTS, { ...series, verdict: measurement.verdict }, 1);
}
