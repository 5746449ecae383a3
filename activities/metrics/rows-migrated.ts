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

/**
 * {@link rowsMigratedCounter} for a phase whose checkpoints carry a running total (the key migration's
 * `totals.renamed + totals.discarded`, the template migration's `totals.written`): call it with each
 * checkpoint's total and it counts the increase. Start it at the total of the checkpoint the attempt resumes
 * from, so a retried attempt never counts the earlier attempt's batches again.
 *
 * @example
 * const rows = (p?: KeyMigrationProgress) => (p ? p.totals.renamed + p.totals.discarded : 0);
 * const counted = await rowsMigratedTotals(deps.db, Context.current(), rolloutId, 'runtime_config', rows(run.resume));
 * onProgress: (progress) => { run.onProgress(progress); counted(rows(progress)); }
 */
export async function rowsMigratedTotals(
  db: Kysely<Database>,
  context: Pick<Context, 'metricMeter' | 'log'>,
  rolloutId: string,
  table: MigratedTable,
  resumedTotal: number,
): Promise<(total: number) => void> {
  return countIncreases(await rowsMigratedCounter(db, context, rolloutId, table), resumedTotal);
}

/** Turns running totals into increases for `add`, starting from `start` (never counting a total twice). */
export function countIncreases(add: (rows: number) => void, start: number): (total: number) => void {
  let counted = start;
  return (total) => {
    if (!(total > counted)) return;
    add(total - counted);
    counted = total;
  };
}
