import { sql, type Kysely } from 'kysely';
import {
  KEY_UNIQUE_CONSTRAINT,
  NORMALIZATION_BYPASS_SETTING,
  RENAME_PATTERN,
  runKeyMigration,
} from '../../activities/key-migration/key-migration';
import type { Database } from '../../db/schema';
import { fingerprintTable, type TableFingerprint } from '../../activities/backup/table-backups';
import { backupRuntimeConfig, generateLegacyData } from '../helpers/config-fixtures';
import { createTestDatabase } from '../helpers/test-database';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);

function log(line: string): void {
  process.stderr.write(`[key-migration bench] ${line}\n`);
}

/** Puts the generated data back exactly (ids included) and leaves the table freshly vacuumed and analyzed. */
async function resetTable(db: Kysely<Database>): Promise<void> {
  await sql`alter table runtime_config drop constraint if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(
    db,
  );
  await db.transaction().execute(async (trx) => {
    // Loading is not what is measured: no triggers (a million NOTIFYs) while copying the data back.
    await sql`set local session_replication_role = replica`.execute(trx);
    await sql`truncate runtime_config`.execute(trx);
    await sql`insert into runtime_config overriding system value select * from bench_pristine`.execute(trx);
  });
  await sql`vacuum analyze runtime_config`.execute(db);
}

/**
 * The baseline: the same rename and dedupe as one set-based statement, with the same normalization
 * expression (to_snake_case only where RENAME_PATTERN matches, as the batches do) and the same trigger
 * bypass, so the ratio measures batching, not a cheaper expression.
 */
async function singleStatement(
  db: Kysely<Database>,
): Promise<{ seconds: number; deleted: number; renamed: number }> {
  const started = performance.now();
  const result = await db.transaction().execute(async (trx) => {
    await sql`select set_config(${NORMALIZATION_BYPASS_SETTING}, 'on', true)`.execute(trx);
    return sql<{ deleted: number; renamed: number }>`
      with ranked as (
        select id, normalized,
               row_number() over (partition by normalized, user_id order by updated_at desc, id desc) as rank
        from (
          select id, user_id, updated_at,
                 case when key collate "C" ~ ${RENAME_PATTERN} then to_snake_case(key) else key end as normalized
          from runtime_config
        ) n
      ),
      deleted as (
        delete from runtime_config r using ranked where r.id = ranked.id and ranked.rank > 1 returning r.id
      ),
      renamed as (
        update runtime_config r set key = ranked.normalized from ranked
        where r.id = ranked.id and ranked.rank = 1 and r.key <> ranked.normalized returning r.id
      )
      select (select count(*) from deleted) as deleted, (select count(*) from renamed) as renamed
    `.execute(trx);
  });
  const row = result.rows[0];
  return {
    seconds: (performance.now() - started) / 1000,
    deleted: row?.deleted ?? 0,
    renamed: row?.renamed ?? 0,
  };
}

function percentile(values: number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? Number.NaN;
}

const median = (values: number[]) => percentile(values, 0.5);

/**
 * Key migration (rename batches + dedupe sweep, at the default 200 ms target) on ROWS legacy rows (10 %
 * camelCase, 2 % duplicate groups, 20 % global) against one set-based statement on an identical copy. Both
 * must end in the same table (checked). `batched_s` is the rename and dedupe work the baseline also does;
 * building the constraint and verifying are reported apart (`constraint_s`, `verify_s`).
 */
export default async function keyMigrationBench(): Promise<Record<string, number | string>> {
  const t = await createTestDatabase('bench_key_migration');
  try {
    log(`generating ${ROWS} rows`);
    const shape = await generateLegacyData(t.db, { rows: ROWS, skipTriggers: true });
    await sql`create table bench_pristine as select * from runtime_config`.execute(t.db);
    await sql`vacuum analyze runtime_config`.execute(t.db);

    const singles: number[] = [];
    const batched: number[] = [];
    const ratios: number[] = [];
    const batchTimes: number[] = [];
    let maxStatementMs = 0;
    let last: Awaited<ReturnType<typeof runKeyMigration>> | undefined;
    let baselineEnd: TableFingerprint | undefined;
    let batchedEnd: TableFingerprint | undefined;
    let baselineCounts = { deleted: 0, renamed: 0 };
    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round}: baseline (one statement)`);
      const single = await singleStatement(t.db);
      baselineCounts = single;
      baselineEnd = await fingerprintTable(t.db, 'runtime_config');
      log(`round ${round}: baseline ${single.seconds.toFixed(2)} s; resetting`);
      await resetTable(t.db);

      const rolloutId = `r-bench-km-${round}`;
      log(`round ${round}: backup`);
      await backupRuntimeConfig(t.db, rolloutId);
      log(`round ${round}: batched migration`);
      const report = await runKeyMigration(t.db, {
        rolloutId,
        onProgress: (progress) => {
          const lastBatch = progress.lastBatch;
          if (lastBatch) batchTimes.push(lastBatch.batchMs);
          if (lastBatch && lastBatch.batchMs > 250) {
            log(`  slow ${lastBatch.step} batch: ${lastBatch.size} in ${lastBatch.batchMs} ms`);
          }
          if (progress.totals.batches % 25 === 0) {
            log(
              `  ${progress.step} batch ${progress.totals.batches}, rename cursor ${progress.renameCursor}`,
            );
          }
        },
      });
      const seconds = report.seconds.rename + report.seconds.dedupe;
      batchedEnd = await fingerprintTable(t.db, 'runtime_config');
      log(
        `round ${round}: batched ${seconds.toFixed(2)} s (rename ${report.seconds.rename.toFixed(2)}, dedupe ${report.seconds.dedupe.toFixed(2)}), constraint ${report.seconds.constraint.toFixed(2)} s, verify ${report.seconds.verify.toFixed(2)} s`,
      );
      singles.push(single.seconds);
      batched.push(seconds);
      ratios.push(seconds / single.seconds);
      last = report;
      maxStatementMs = Math.max(maxStatementMs, report.maxStatementMs);
      if (round < ROUNDS) await resetTable(t.db);
    }
    if (!last || !baselineEnd || !batchedEnd) throw new Error('no round ran');
    const sameResult =
      baselineEnd.rowCount === batchedEnd.rowCount &&
      baselineEnd.checksum === batchedEnd.checksum &&
      baselineCounts.deleted === last.discarded;
    if (!sameResult)
      log(`results differ: baseline ${JSON.stringify(baselineEnd)} vs batched ${JSON.stringify(batchedEnd)}`);
    const batchedSeconds = median(batched);
    return {
      rows: ROWS,
      batched_s: Number(batchedSeconds.toFixed(3)),
      single_s: Number(median(singles).toFixed(3)),
      ratio: Number(median(ratios).toFixed(3)),
      // The worst over every round, not the median.
      max_statement_ms: maxStatementMs,
      rows_per_s: Math.round(ROWS / batchedSeconds),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      max_batch_ms: last.maxBatchMs,
      p95_batch_ms: Math.round(percentile(batchTimes, 0.95)),
      median_batch_ms: Math.round(percentile(batchTimes, 0.5)),
      batches: last.batches,
      renamed: last.renamed,
      discarded: last.discarded,
      duplicate_groups: shape.duplicates,
      constraint_s: Number(last.seconds.constraint.toFixed(3)),
      verify_s: Number(last.seconds.verify.toFixed(3)),
      rounds: ROUNDS,
      same_result: String(sameResult),
    };
  } finally {
    await t.drop();
  }
}
