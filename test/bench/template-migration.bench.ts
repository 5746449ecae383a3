import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { sql, type Kysely } from 'kysely';
import { claimRun } from '../../db/rollout-runs';
import type { Database } from '../../db/schema';
import { backupTable } from '../../activities/backup/table-backups';
import {
  runTemplateMigration,
  type TemplateMigrationReport,
} from '../../activities/template-migration/template-migration';
import { restoreTemplates } from '../../activities/template-migration/template-restore';
import { KNOWN_LLM_PARAM_FIELDS } from '../../src/schemas/generation-params';
import { createTestDatabase } from '../helpers/test-database';

const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const BATCH_SIZE = process.env.BENCH_BATCH_SIZE ? Number(process.env.BENCH_BATCH_SIZE) : undefined;

function log(line: string): void {
  process.stderr.write(`[template-migration bench] ${line}\n`);
}

/**
 * Legacy templates in one set-based statement, deterministic: 1 % invalid (temperature out of range), 10 %
 * already snake_case, 5 % with a field in both spellings, 10 % with an unknown field, the rest camelCase.
 * Bodies of a realistic length, so rows are the size the migration really reads and writes.
 */
async function generateTemplates(db: Kysely<Database>, rows: number): Promise<void> {
  await sql`
    insert into prompt_templates (id, name, body, llm_preferences, updated_at)
    overriding system value
    select g, 'template ' || g, repeat('You are a helpful assistant for {{product}}. ', 8) || g,
           case when g % 100 = 0 then jsonb_build_object('temperature', 5, 'maxTokens', 256 + g % 1000)
                when g % 10 = 1 then jsonb_build_object('temperature', 0.7, 'max_tokens', 256 + g % 1000, 'top_p', 0.9)
                when g % 20 = 2 then jsonb_build_object('maxTokens', 256, 'max_tokens', 512, 'temperature', 0.3,
                                                        'topP', 0.95)
                when g % 10 = 3 then jsonb_build_object('maxTokens', 256 + g % 1000, 'temperature', 0.2,
                                                        'teamId', 'team-' || g % 17)
                else jsonb_build_object('maxTokens', 256 + g % 1000, 'topP', 0.9, 'temperature', 0.7,
                                        'frequencyPenalty', 0.1, 'stopSequences', jsonb_build_array('END'))
           end,
           timestamptz '2025-01-01' + g * interval '1 second'
    from generate_series(1, ${rows}) as g
  `.execute(db);
  await sql`select setval(pg_get_serial_sequence('prompt_templates', 'id'), ${rows})`.execute(db);
}

async function resetTable(db: Kysely<Database>): Promise<void> {
  await sql`truncate prompt_templates`.execute(db);
  await sql`insert into prompt_templates overriding system value select * from bench_pristine`.execute(db);
  await sql`vacuum analyze prompt_templates`.execute(db);
}

/**
 * The baseline: the same camelCase → snake_case mapping of the known fields (snake_case spelling wins a
 * conflict, unknown keys kept) as one UPDATE with the Postgres naming function, with no validation, no
 * quarantine, no ledger and no batching.
 */
async function singleStatement(db: Kysely<Database>): Promise<{ seconds: number; rewritten: number }> {
  const known = [...KNOWN_LLM_PARAM_FIELDS];
  const started = performance.now();
  const result = await sql`
    update prompt_templates t set llm_preferences = (
      select jsonb_object_agg(case when n.snake = any(${known}::text[]) then n.snake else e.key end, e.value
                              order by e.key = n.snake)
      from jsonb_each(t.llm_preferences) e cross join lateral (select to_snake_case(e.key) as snake) n
    )
    where jsonb_typeof(t.llm_preferences) = 'object'
      and exists (
        select 1 from jsonb_object_keys(t.llm_preferences) k
        where to_snake_case(k) <> k and to_snake_case(k) = any(${known}::text[])
      )
  `.execute(db);
  return { seconds: (performance.now() - started) / 1000, rewritten: Number(result.numAffectedRows ?? 0n) };
}

/**
 * CPU seconds used so far by this database's server processes, by pid, read from /proc (the server is local
 * in tests and benches). Wall time on a shared 2-core machine swings with other load; CPU time does not, so
 * the figures say what the work costs and how it would run on an idle machine. Empty where /proc is closed.
 */
async function serverCpuSeconds(db: Kysely<Database>): Promise<Map<number, number>> {
  const backends = await sql<{ pid: number }>`
    select pid from pg_stat_activity where datname = current_database()
  `.execute(db);
  const seconds = new Map<number, number>();
  for (const { pid } of backends.rows) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    // Fields after "(comm) ": state is the first, utime and stime the 12th and 13th; in clock ticks of 1/100 s.
    const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields?.[11]) + Number(fields?.[12]);
    if (Number.isFinite(ticks)) seconds.set(pid, ticks / 100);
  }
  return seconds;
}

/** CPU seconds the server spent between two readings (backends opened in between start from zero). */
function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, value] of after) total += value - (before.get(pid) ?? 0);
  return total;
}

function processCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * Template migration (read, validate in TypeScript, one write statement per batch, ledger and quarantine)
 * on ROWS legacy templates against one SQL JSONB rewrite of the same mapping on an identical copy. Both must
 * agree on every template the migration did not quarantine (checked: `same_result`).
 */
export default async function templateMigrationBench(): Promise<Record<string, number | string>> {
  const t = await createTestDatabase('bench_template_migration');
  try {
    log(`generating ${ROWS} templates`);
    await generateTemplates(t.db, ROWS);
    await sql`create table bench_pristine as select * from prompt_templates`.execute(t.db);
    await sql`vacuum analyze prompt_templates`.execute(t.db);

    const singles: number[] = [];
    const batched: number[] = [];
    let last: TemplateMigrationReport | undefined;
    const nodeCpu: number[] = [];
    const serverCpu: number[] = [];
    const singleServerCpu: number[] = [];
    let singleRewritten = 0;
    let sameResult = true;
    const restores: number[] = [];
    let restoredExactly = true;
    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round}: baseline (one statement)`);
      const singleCpu = await serverCpuSeconds(t.db);
      const single = await singleStatement(t.db);
      singles.push(single.seconds);
      singleServerCpu.push(cpuBetween(singleCpu, await serverCpuSeconds(t.db)));
      singleRewritten = single.rewritten;
      await sql`drop table if exists bench_single`.execute(t.db);
      await sql`create table bench_single as select * from prompt_templates`.execute(t.db);
      log(`round ${round}: baseline ${single.seconds.toFixed(2)} s; resetting`);
      await resetTable(t.db);

      const rolloutId = `r-bench-tm-${round}`;
      await claimRun(t.db, {
        rolloutId,
        workflowId: rolloutId,
        flag: `flag-${rolloutId}`,
        project: 'default',
        environment: 'development',
        plan: {},
      });
      log(`round ${round}: backup`);
      await backupTable(t.db, rolloutId, 'prompt_templates');
      log(`round ${round}: batched migration`);
      const serverBefore = await serverCpuSeconds(t.db);
      const nodeBefore = processCpuSeconds();
      const report = await runTemplateMigration(t.db, {
        rolloutId,
        batchSize: BATCH_SIZE,
        onProgress: (progress) => {
          if (progress.totals.batches % 10 === 0)
            log(`  batch ${progress.totals.batches}, cursor ${progress.cursor}`);
        },
      });
      batched.push(report.seconds);
      nodeCpu.push(processCpuSeconds() - nodeBefore);
      serverCpu.push(cpuBetween(serverBefore, await serverCpuSeconds(t.db)));
      last = report;
      const differing = await sql<{ n: number }>`
        select count(*) as n from prompt_templates l join bench_single s using (id)
        where l.llm_preferences is distinct from s.llm_preferences
          and not exists (select 1 from template_quarantine q where q.rollout_id = ${rolloutId} and q.template_id = l.id)
      `.execute(t.db);
      sameResult &&= differing.rows[0]?.n === 0;
      log(
        `round ${round}: batched ${report.seconds.toFixed(2)} s, ${report.batches} batches, max ${report.maxBatchMs} ms, ` +
          `${differing.rows[0]?.n ?? '?'} templates differ from the baseline outside quarantine`,
      );
      // The rollback of the same migration, for the record (the rollback bench measures the key migration's).
      const restore = await restoreTemplates(t.db, { rolloutId });
      restores.push(restore.seconds);
      const left = await sql<{ n: number }>`
        select count(*) as n from (select * from prompt_templates except select * from bench_pristine) d
      `.execute(t.db);
      restoredExactly &&= left.rows[0]?.n === 0 && restore.restored === report.migrated;
      log(`round ${round}: restore ${restore.seconds.toFixed(2)} s, ${restore.restored} templates put back`);
      if (round < ROUNDS) await resetTable(t.db);
    }
    if (!last) throw new Error('no round ran');
    const batchedSeconds = median(batched);
    const singleSeconds = median(singles);
    return {
      rows: ROWS,
      rows_per_s: Math.round(ROWS / batchedSeconds),
      single_s: Number(singleSeconds.toFixed(3)),
      ratio: Number((batchedSeconds / singleSeconds).toFixed(3)),
      batched_s: Number(batchedSeconds.toFixed(3)),
      single_rows_per_s: Math.round(ROWS / singleSeconds),
      migrated: last.migrated,
      single_rewritten: singleRewritten,
      unchanged: last.unchanged,
      quarantined: last.quarantined,
      conflicts: last.conflictsTotal,
      unknown_fields: last.unknownFieldsTotal,
      batches: last.batches,
      max_batch_ms: last.maxBatchMs,
      same_result: sameResult ? 'yes' : 'no',
      restore_s: Number(median(restores).toFixed(3)),
      restored_exactly: restoredExactly ? 'yes' : 'no',
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      // Contention-free cost: the migration's Node and Postgres CPU seconds, the baseline's Postgres CPU
      // seconds, and the rate the busier of the two processes would allow on an idle machine.
      node_cpu_s: Number(median(nodeCpu).toFixed(2)),
      postgres_cpu_s: Number(median(serverCpu).toFixed(2)),
      single_postgres_cpu_s: Number(median(singleServerCpu).toFixed(2)),
      cpu_bound_rows_per_s: Math.round(ROWS / Math.max(median(nodeCpu), median(serverCpu))),
      load_average: Number(loadavg()[0]?.toFixed(2) ?? 0),
      rounds: ROUNDS,
    };
  } finally {
    await t.drop();
  }
}
