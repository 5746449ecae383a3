import type { Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema';
import {
  ActivityMetrics,
  ROWS_MIGRATED,
  type MigratedTable,
  type RolloutMetricLabels,
} from './activity-metrics';
import { rolloutMetricLabels } from './rollout-labels';

function metricErrorLogger(context: Pick<Context, 'log'>) {
  return (error: unknown) =>
    context.log.warn('a rollout metric could not be emitted', { error: String(error) });
}

/**
 * Adds `rows` to `rollout_rows_migrated_total{flag,environment,table}` on the activity's metric meter. Call it
 * once per committed batch with the rows that batch changed (a retried attempt resumes after its last
 * checkpoint, so a batch is counted once unless the worker died between its commit and its checkpoint).
 *
 * @example
 * countRowsMigrated(Context.current(), { flag: 'unified-config', environment: 'production' }, 'runtime_config', 500);
 */
export function countRowsMigrated(
  context: Pick<Context, 'metricMeter' | 'log'>,
  labels: RolloutMetricLabels,
  table: MigratedTable,
  rows: number,
): void {
  new ActivityMetrics(context.metricMeter, metricErrorLogger(context)).add(
    ROWS_MIGRATED,
    { ...labels, table },
    rows,
  );
}

/**
 * {@link countRowsMigrated} for one activity of a rollout: looks the rollout's flag and environment up once and
 * returns the per-batch call. A rollout without a run row (a test calling the phase directly) counts nothing.
 *
 * @example
 * const counted = await rowsMigratedCounter(deps.db, Context.current(), rolloutId, 'runtime_config');
 * counted(batch.renamed);
 */
export async function rowsMigratedCounter(
  db: Kysely<Database>,
  context: Pick<Context, 'metricMeter' | 'log'>,
  rolloutId: string,
  table: MigratedTable,
): Promise<(rows: number) => void> {
  const labels = await rolloutMetricLabels(db, rolloutId);
  if (!labels) return () => undefined;
  const metrics = new ActivityMetrics(context.metricMeter, metricErrorLogger(context));
  return (rows) => metrics.add(ROWS_MIGRATED, { ...labels, table }, rows);
}
