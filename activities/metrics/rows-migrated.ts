import { Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema';
import {
  ActivityMetrics,
  ROWS_MIGRATED,
  type MigratedTable,
  type RolloutMetricLabels,
} from './activity-metrics';
import { rolloutMetricLabels } from './rollout-labels';

/** What the counters need of an activity's context: its metric meter, and its logger for a refused point. */
export type MetricContext = Pick<Context, 'metricMeter' | 'log'>;

function metricErrorLogger(context: Pick<Context, 'log'>) {
  return (error: unknown) =>
    context.log.warn('a rollout metric could not be emitted', { error: String(error) });
}

/** The running activity's context, or undefined when the code runs outside one (a test calling it directly). */
function currentContext(): MetricContext | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
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
  context: MetricContext,
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
 * returns the per-batch call. Counts nothing for a rollout without a run row or outside an activity (a test
 * calling the phase directly).
 *
 * @example
 * const counted = await rowsMigratedCounter(deps.db, rolloutId, 'model_catalog');
 * counted(report.inserted.length + report.updated.length);
 */
export async function rowsMigratedCounter(
  db: Kysely<Database>,
  rolloutId: string,
  table: MigratedTable,
  context: MetricContext | undefined = currentContext(),
): Promise<(rows: number) => void> {
  if (!context) return () => undefined;
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
 * const counted = await rowsMigratedTotals(deps.db, rolloutId, 'runtime_config', rows(run.resume));
 * onProgress: (progress) => { run.onProgress(progress); counted(rows(progress)); }
 */
export async function rowsMigratedTotals(
  db: Kysely<Database>,
  rolloutId: string,
  table: MigratedTable,
  resumedTotal: number,
  context: MetricContext | undefined = currentContext(),
): Promise<(total: number) => void> {
  return countIncreases(await rowsMigratedCounter(db, rolloutId, table, context), resumedTotal);
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
