import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { z } from 'zod';
import { normalizeLlmPreferences, type NormalizeResult, type OnInvalid } from './normalize-llm-preferences';
import { BatchRunner, timedBatch } from '../../db/batch-runner';
import { BatchSizer } from '../../db/batch-sizer';
import type { RetryOptions } from '../../db/lock-retry';
import type { Database } from '../../db/schema';
import type { SpellingConflict } from '../../db/template-quarantine-schema';
import {
  DEFAULT_LIMITS,
  limitSettings,
  transactionWith,
  type StatementLimits,
} from '../../db/transaction-settings';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { requireBackup } from '../backup/table-backups';

type Db = Kysely<Database> | Transaction<Database>;

/** The table the template migration rewrites. */
export const TEMPLATE_TABLE = 'prompt_templates';
/** The phase's name in messages and logs. */
export const TEMPLATE_MIGRATION = 'template migration';

/** The rollout's template migration was rolled back; migrating again would undo the rollback unseen. */
export class TemplateMigrationRolledBackError extends Error {
  override name = 'TemplateMigrationRolledBackError';
}

/** A retry asked for another `onInvalid` than the rollout's first attempt used; mixing them is refused. */
export class OnInvalidMismatchError extends Error {
  override name = 'OnInvalidMismatchError';
}

/** Rows of one batch kept changing under it; the batch is given up for now (the caller retries later). */
export class TemplateBatchContentionError extends Error {
  override name = 'TemplateBatchContentionError';
}

// ---------------------------------------------------------------------------------------------------------
// One batch

/**
 * `llm_preferences` with `ops` applied (key → new key, or JSON null to drop), in SQL: every value, numbers
 * included, is carried over byte for byte, where a round trip through JavaScript would rewrite `1.0` as `1`.
 * Used for the rows whose numbers would not survive that round trip; the others are written from here.
 */
function rewritten(preferences: RawBuilder<unknown>, ops: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`(
    select coalesce(jsonb_object_agg(coalesce(${ops} ->> e.key, e.key), e.value), '{}'::jsonb)
    from jsonb_each(${preferences}) as e
    where jsonb_typeof(${ops} -> e.key) is distinct from 'null'
  )`;
}

export interface UnknownFieldItem {
  templateId: number;
  field: string;
}

export interface TemplateBatchResult {
  /** Highest id read; the next batch starts after it. */
  lastId: number;
  scanned: number;
  /** Fewer rows than the limit: the table ended. */
  exhausted: boolean;
  /** Templates rewritten (renamed or repaired). */
  written: number;
  /** Templates already in normal form that this rollout never wrote. */
  unchanged: number;
  /** Templates newly recorded in quarantine. */
  quarantined: number;
  unknownFields: UnknownFieldItem[];
  /** Rows re-read because a writer changed them between the read and the write. */
  raceRetries: number;
  batchMs: number;
}

/** A template as read: `llm_preferences` as jsonb's own text, so the write can tell if JSON would keep it. */
interface SeenRow {
  id: number;
  text: string;
  xmin: string;
}

interface Planned {
  row: SeenRow;
  result: NormalizeResult;
}

/** Reads a page's rows: the text form costs nothing extra (pg would JSON.parse the jsonb anyway). */
function readRows(db: Db, where: RawBuilder<unknown>, limit?: number) {
  return sql<SeenRow>`
    select id, llm_preferences::text as text, xmin::text as xmin from prompt_templates
    where ${where} order by id ${limit === undefined ? sql`` : sql`limit ${limit}`}
  `.execute(db);
}

function decide(row: SeenRow, onInvalid: OnInvalid): Planned {
  return { row, result: normalizeLlmPreferences(JSON.parse(row.text), { onInvalid }) };
}

const STRING_OR_NUMBER = /"(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*/g;

/**
 * True when every number in the stored text reads back the same after JSON.parse and JSON.stringify
 * (`0.9`, `256`, but not `0.90`, `1.0` or 20 digits). Then the rewrite can be written as JSON from here; else
 * the ops are applied in SQL, which keeps each value byte for byte.
 */
function numbersSurviveJson(text: string): boolean {
  for (const [token] of text.matchAll(STRING_OR_NUMBER)) {
    if (token.startsWith('"')) continue;
    if (String(Number(token)) !== token) return false;
  }
  return true;
}

/** The write of one batch: arrays for `unnest`, one element per template that needs a write. */
function writeInput(planned: readonly Planned[], onInvalid: OnInvalid) {
  const input = {
    ids: [] as number[],
    xmins: [] as string[],
    ops: [] as (string | null)[],
    values: [] as (string | null)[],
    conflicts: [] as (string | null)[],
    issues: [] as (string | null)[],
    actions: [] as (string | null)[],
    dropped: [] as (string | null)[],
  };
  for (const { row, result } of planned) {
    if (result.status === 'normal') continue;
    const rewrite = result.status === 'migrate' ? result : onInvalid === 'defaults' ? result.repair : null;
    input.ids.push(row.id);
    input.xmins.push(row.xmin);
    input.ops.push(rewrite ? JSON.stringify(rewrite.ops) : null);
    input.values.push(rewrite && numbersSurviveJson(row.text) ? JSON.stringify(rewrite.preferences) : null);
    input.conflicts.push(rewrite && rewrite.conflicts.length > 0 ? JSON.stringify(rewrite.conflicts) : null);
    if (result.status === 'invalid') {
      input.issues.push(JSON.stringify(result.issues));
      input.actions.push(
        result.repair && onInvalid === 'defaults' ? 'invalid_fields_dropped' : 'left_untouched',
      );
      input.dropped.push(
        result.repair && onInvalid === 'defaults' ? JSON.stringify(result.repair.dropped) : null,
      );
    } else {
      input.issues.push(null);
      input.actions.push(null);
      input.dropped.push(null);
    }
  }
  return input;
}

/**
 * Holds a share lock on the rollout's run row for the whole batch, so a rollback (which stamps the row
 * first) waits for a batch in flight and every later batch sees the stamp and stops.
 */
async function assertNotRolledBack(trx: Transaction<Database>, rolloutId: string): Promise<void> {
  const run = await sql<{ rolled_back_at: Date | null }>`
    select rolled_back_at from template_migrations where rollout_id = ${rolloutId} for share
  `.execute(trx);
  const row = run.rows[0];
  if (!row) throw new Error(`template migration of rollout ${rolloutId} was not started`);
  if (row.rolled_back_at) {
    throw new TemplateMigrationRolledBackError(
      `the template migration of rollout ${rolloutId} was rolled back at ${row.rolled_back_at.toISOString()}; start a new rollout to migrate again`,
    );
  }
}

const MAX_RACE_ROUNDS = 5;

export interface TemplatePage {
  afterId: number;
  limit: number;
  /** Each template read, with the version it was read at and the decision about it, in id order. */
  rows: Planned[];
}

/**
 * Reads up to `limit` templates with id > `afterId` and decides about each (`normalizeLlmPreferences`).
 * Needs no lock: the write checks that every row is still the version read, which lets the caller read the
 * next page while the current one is written.
 */
export async function readTemplatePage(
  db: Kysely<Database>,
  input: { afterId: number; limit: number; onInvalid: OnInvalid; limits?: StatementLimits },
): Promise<TemplatePage> {
  const page = await transactionWith(db, limitSettings(input.limits ?? DEFAULT_LIMITS), (trx) =>
    readRows(trx, sql`id > ${input.afterId}`, input.limit),
  );
  return {
    afterId: input.afterId,
    limit: input.limit,
    rows: page.rows.map((row) => decide(row, input.onInvalid)),
  };
}

/**
 * Writes the decisions of one page in one transaction: every rewrite, ledger row and quarantine record in a
 * single statement. A row is written only if it is still the version that was read (`xmin`); a row a writer
 * changed meanwhile is read and decided again, so no write is ever overwritten with a decision about older
 * content. Idempotent: a migrated template is a fixed point, and a quarantine record is kept as first written.
 */
export async function writeTemplatePage(
  db: Kysely<Database>,
  input: { rolloutId: string; page: TemplatePage; onInvalid: OnInvalid; limits?: StatementLimits },
): Promise<TemplateBatchResult> {
  const limits = input.limits ?? DEFAULT_LIMITS;
  const { page } = input;
  const { value: result, batchMs } = await timedBatch(db, limitSettings(limits), async (trx) => {
    await assertNotRolledBack(trx, input.rolloutId);
    const decisions = new Map<number, Planned>(page.rows.map((planned) => [planned.row.id, planned]));
    let pending = page.rows;
    // The page's id range, stated so the planner reads only its slice of the table, by index.
    const inRange = sql`t.id > ${page.afterId} and t.id <= ${page.rows.at(-1)?.row.id ?? page.afterId}`;
    let written = 0;
    let quarantined = 0;
    let raceRetries = 0;
    for (let round = 1; ; round++) {
      const write = writeInput(pending, input.onInvalid);
      if (write.ids.length === 0) break;
      const outcome = await sql<{
        updated_ids: unknown[];
        held_ids: unknown[];
        changes: number;
        quarantined: number;
      }>`
          with input as (
            select * from unnest(${write.ids}::bigint[], ${write.xmins}::text[], ${write.ops}::jsonb[], ${write.values}::jsonb[],
                                 ${write.conflicts}::jsonb[], ${write.issues}::jsonb[], ${write.actions}::text[],
                                 ${write.dropped}::jsonb[])
              as i(id, seen_xmin, ops, value, conflicts, issues, action, dropped)
          ),
          -- The version that was read, by xmin. A row to rewrite is checked again by the update itself; a row
          -- only to quarantine is share-locked, so a write landing meanwhile is waited for and then misses.
          -- Each later step reads only these and what the update returns: no join the planner could misjudge
          -- (it cannot estimate the xmin match, and an estimate far too low picks a quadratic nested loop).
          seen as materialized (
            select t.id, t.xmin, i.ops, i.value, i.conflicts, i.issues, i.action, i.dropped,
                   md5(t.llm_preferences::text)::uuid as previous_hash,
                   case when i.action is not null then t.llm_preferences end as original
            from prompt_templates t
            join input i on i.id = t.id and t.xmin = i.seen_xmin::xid
            where i.ops is not null and ${inRange}
          ),
          held as materialized (
            select t.id, t.llm_preferences as original, i.issues, i.action, i.dropped
            from prompt_templates t
            join input i on i.id = t.id and t.xmin = i.seen_xmin::xid
            where i.ops is null and ${inRange}
            for share of t
          ),
          updated as (
            update prompt_templates t
              set llm_preferences = coalesce(s.value, ${rewritten(sql`t.llm_preferences`, sql`s.ops`)})
            from seen s
            where t.id = s.id and t.xmin = s.xmin and ${inRange}
            returning t.id, s.previous_hash, md5(t.llm_preferences::text)::uuid as written_hash, s.conflicts,
                      s.original, s.issues, s.action, s.dropped
          ),
          changes as (
            insert into template_migration_changes (rollout_id, template_id, previous_hash, written_hash, conflicts)
            select ${input.rolloutId}, id, previous_hash, written_hash, conflicts from updated
            on conflict (rollout_id, template_id) do update set
              previous_hash = excluded.previous_hash, written_hash = excluded.written_hash,
              conflicts = excluded.conflicts, migrated_at = now()
            returning template_id
          ),
          quarantined as (
            insert into template_quarantine (rollout_id, template_id, original, issues, action, dropped)
            select ${input.rolloutId}, id, original, issues, action, dropped from held
            union all
            select ${input.rolloutId}, id, original, issues, action, dropped from updated where action is not null
            on conflict (rollout_id, template_id) do nothing
            returning template_id
          )
          select coalesce((select array_agg(id) from updated), '{}') as updated_ids,
                 coalesce((select array_agg(id) from held), '{}') as held_ids,
                 (select count(*) from changes) as changes,
                 (select count(*) from quarantined) as quarantined
        `.execute(trx);
      const row = outcome.rows[0];
      if (!row) throw new Error('template batch write returned no row');
      written += row.changes;
      quarantined += row.quarantined;
      const updated = new Set(row.updated_ids.map(Number));
      const held = new Set(row.held_ids.map(Number));
      // Written when it had a rewrite; held when it was only to be quarantined. Anything else raced.
      const raced = write.ids.filter((id, index) =>
        write.ops[index] !== null ? !updated.has(id) : !held.has(id),
      );
      if (raced.length === 0) break;
      if (round >= MAX_RACE_ROUNDS) {
        throw new TemplateBatchContentionError(
          `${raced.length} template(s) after id ${page.afterId} kept changing during ${round} attempts to migrate them`,
        );
      }
      raceRetries += raced.length;
      const fresh = await readRows(trx, sql`id = any(${raced}::bigint[])`);
      for (const id of raced) decisions.delete(id);
      pending = fresh.rows.map((row) => decide(row, input.onInvalid));
      for (const planned of pending) decisions.set(planned.row.id, planned);
    }
    const unknownFields = [...decisions.values()]
      .sort((a, b) => a.row.id - b.row.id)
      .flatMap(({ row, result }) => result.unknownFields.map((field) => ({ templateId: row.id, field })));
    // A template in normal form is unchanged unless this rollout wrote it (a batch run again after a
    // crash finds its own earlier work in normal form): the ledger says which, so the count stays exact.
    const normalIds = [...decisions.values()]
      .filter((d) => d.result.status === 'normal')
      .map((d) => d.row.id);
    const ours =
      normalIds.length === 0
        ? 0
        : ((
            await sql<{ n: number }>`
                select count(*) as n from template_migration_changes
                where rollout_id = ${input.rolloutId} and template_id = any(${normalIds}::bigint[])
              `.execute(trx)
          ).rows[0]?.n ?? 0);
    return { written, quarantined, raceRetries, unknownFields, unchanged: normalIds.length - ours };
  });
  const last = page.rows.at(-1);
  return {
    lastId: last ? last.row.id : page.afterId,
    scanned: page.rows.length,
    exhausted: page.rows.length < page.limit,
    written: result.written,
    unchanged: result.unchanged,
    quarantined: result.quarantined,
    unknownFields: result.unknownFields,
    raceRetries: result.raceRetries,
    batchMs,
  };
}

/**
 * Reads, decides and writes the templates with id > `afterId` (at most `limit` of them): one batch.
 *
 * @example
 * const batch = await migrateTemplateBatch(db, { rolloutId, afterId: 0, limit: 5_000, onInvalid: 'quarantine' });
 * batch.lastId; // where the next batch starts
 */
export async function migrateTemplateBatch(
  db: Kysely<Database>,
  input: {
    rolloutId: string;
    afterId: number;
    limit: number;
    onInvalid: OnInvalid;
    limits?: StatementLimits;
  },
): Promise<TemplateBatchResult> {
  return writeTemplatePage(db, { ...input, page: await readTemplatePage(db, input) });
}

// ---------------------------------------------------------------------------------------------------------
// The whole phase

const unknownFieldSchema = z.object({ templateId: z.number().int(), field: z.string() });

/** Heartbeat details: where to resume and what the batches before it saw. Parsed, never trusted blindly. */
export const templateMigrationProgressSchema = z.object({
  /** Templates with ids up to here have been migrated. */
  cursor: z.number().int().nonnegative(),
  batchSize: z.number().int().positive(),
  totals: z.object({
    batches: z.number().int().nonnegative(),
    scanned: z.number().int().nonnegative(),
    written: z.number().int().nonnegative(),
    unchanged: z.number().int().nonnegative(),
    raceRetries: z.number().int().nonnegative(),
    lockRetries: z.number().int().nonnegative(),
    timeoutRetries: z.number().int().nonnegative(),
    maxBatchMs: z.number().nonnegative(),
  }),
  /**
   * Unknown fields live in the data, so a batch re-run after a lost heartbeat finds them again: counting
   * them here is exact. The list is capped (it goes into Temporal history); the total is not.
   */
  unknownFields: z.object({ total: z.number().int().nonnegative(), items: z.array(unknownFieldSchema) }),
});

export type TemplateMigrationProgress = z.infer<typeof templateMigrationProgressSchema>;

export interface TemplateMigrationOptions {
  rolloutId: string;
  /** What to do with an invalid template. Default `quarantine`: record it and leave it untouched. */
  onInvalid?: OnInvalid;
  /** Templates per batch (one transaction each). Default 5,000. */
  batchSize?: number;
  limits?: Partial<StatementLimits>;
  /** How many conflicts, unknown fields and quarantined templates the report lists (all are counted). */
  listLimit?: number;
  /** Progress from an earlier attempt (heartbeat details); templates up to its cursor are not read again. */
  resume?: TemplateMigrationProgress;
  onProgress?: (progress: TemplateMigrationProgress) => void;
  /** Checked between batches; an aborted signal stops the phase with its reason. */
  signal?: AbortSignal;
  retry?: RetryOptions;
}

/** A JSON value as shown in a report: compact and cut short, so a long system prompt never floods history. */
export type ShownValue = string;

/** A spelling conflict the migration resolved, in the report: which template, values shown short. */
export type ReportedConflict = { templateId: number } & SpellingConflict<ShownValue>;

export interface ReportedQuarantine {
  templateId: number;
  action: 'left_untouched' | 'invalid_fields_dropped';
  /** The first issues (`issueCount` says how many there are). */
  issues: string[];
  issueCount: number;
  /** With `invalid_fields_dropped`: the fields removed. */
  droppedFields: string[];
}

export interface TemplateMigrationReport {
  rolloutId: string;
  backupTable: string;
  onInvalid: OnInvalid;
  /** Templates this rollout rewrote, over all attempts (from its ledger: exact across crashes). */
  migrated: number;
  /** Templates read that were already snake_case and valid and that this rollout never wrote (exact too). */
  unchanged: number;
  /** Templates in this rollout's quarantine (left untouched, or repaired with `onInvalid: defaults`). */
  quarantined: number;
  /** The part of `quarantined` whose invalid fields were dropped. */
  invalidFieldsDropped: number;
  conflicts: ReportedConflict[];
  conflictsTotal: number;
  unknownFields: UnknownFieldItem[];
  unknownFieldsTotal: number;
  quarantine: ReportedQuarantine[];
  /** The cap of each list above. */
  listLimit: number;
  /** Batch figures over all attempts. */
  batches: number;
  scanned: number;
  maxBatchMs: number;
  raceRetries: number;
  lockRetries: number;
  timeoutRetries: number;
  /** The cursor this call resumed from, when it continued an earlier attempt. */
  resumedFrom: number | null;
  /** This call's wall time. */
  seconds: number;
}

export function showValue(value: unknown, max = 80): ShownValue {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Pages by (after id, size), each read once: a retried batch writes the very page it read, and the page after
 * it can be read while the current one is written. A failed read is forgotten, so a retry reads again.
 */
class ReadAhead {
  private readonly pages = new Map<string, { afterId: number; page: Promise<TemplatePage> }>();

  constructor(private readonly read: (afterId: number, limit: number) => Promise<TemplatePage>) {}

  /** The page after `afterId`; pages that start before it, or there with another size, are dropped. */
  at(afterId: number, limit: number): Promise<TemplatePage> {
    const key = `${afterId}:${limit}`;
    for (const [other, entry] of this.pages) {
      if (other !== key && entry.afterId <= afterId) this.pages.delete(other);
    }
    return this.pages.get(key)?.page ?? this.start(key, afterId, limit);
  }

  /** Starts reading the page after `afterId`; its error, if any, surfaces when `at` asks for it. */
  prefetch(afterId: number, limit: number): void {
    const key = `${afterId}:${limit}`;
    // Until asked for, a failed read must not count as an unhandled rejection.
    if (!this.pages.has(key)) this.start(key, afterId, limit).catch(() => undefined);
  }

  private start(key: string, afterId: number, limit: number): Promise<TemplatePage> {
    const page = this.read(afterId, limit);
    const entry = { afterId, page };
    this.pages.set(key, entry);
    page.catch(() => {
      if (this.pages.get(key) === entry) this.pages.delete(key);
    });
    return page;
  }
}

/** Records the run (or finds it) and refuses a rolled-back rollout or a change of `onInvalid`. */
async function beginRun(db: Kysely<Database>, rolloutId: string, onInvalid: OnInvalid): Promise<void> {
  await db
    .insertInto('template_migrations')
    .values({ rollout_id: rolloutId, on_invalid: onInvalid, started_at: sql<Date>`now()` })
    .onConflict((oc) =>
      oc
        .column('rollout_id')
        .doUpdateSet({
          on_invalid: sql<OnInvalid>`coalesce(template_migrations.on_invalid, excluded.on_invalid)`,
          started_at: sql<Date>`coalesce(template_migrations.started_at, excluded.started_at)`,
        })
        .where('template_migrations.rolled_back_at', 'is', null),
    )
    .execute();
  const run = await db
    .selectFrom('template_migrations')
    .select(['on_invalid', 'rolled_back_at'])
    .where('rollout_id', '=', rolloutId)
    .executeTakeFirstOrThrow();
  if (run.rolled_back_at) {
    throw new TemplateMigrationRolledBackError(
      `the template migration of rollout ${rolloutId} was rolled back at ${run.rolled_back_at.toISOString()}; start a new rollout to migrate again`,
    );
  }
  if (run.on_invalid !== onInvalid) {
    throw new OnInvalidMismatchError(
      `rollout ${rolloutId} started its template migration with onInvalid: ${run.on_invalid}; it cannot continue with ${onInvalid}`,
    );
  }
}

/**
 * Runs the template migration (SPEC §5 phase 4): every template's `llm_preferences` to snake_case, known
 * fields kept, both-spelling conflicts resolved to the snake_case value, unknown fields kept as spelt, the
 * result validated; an invalid template quarantined with its issues and left untouched (or, only with
 * `onInvalid: 'defaults'`, stripped of its invalid fields and still quarantined). Batches over id ranges,
 * each one transaction; resumable from any reported progress; idempotent as a whole (the snake form is a
 * fixed point, so a rerun writes nothing). Requires the rollout's verified backup of prompt_templates.
 *
 * @example
 * const report = await runTemplateMigration(db, { rolloutId: 'r-20261126-ab12', onProgress: heartbeat });
 * // With template 3 holding { temperature: 7 }:
 * report.quarantine[0]; // { templateId: 3, action: 'left_untouched', issues: ['temperature: must be at most 2'], ... }
 */
export async function runTemplateMigration(
  db: Kysely<Database>,
  options: TemplateMigrationOptions,
): Promise<TemplateMigrationReport> {
  const started = performance.now();
  const { rolloutId } = options;
  if (!ROLLOUT_ID.test(rolloutId)) throw new Error(`rollout id "${rolloutId}" must match ${ROLLOUT_ID}`);
  const onInvalid = options.onInvalid ?? 'quarantine';
  const limits: StatementLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const listLimit = options.listLimit ?? 100;
  // Statement timeouts shrink a batch down to this, never below what the caller asked for.
  const minBatch = Math.max(1, Math.min(100, options.batchSize ?? 100));
  const record = await requireBackup(db, rolloutId, TEMPLATE_TABLE, TEMPLATE_MIGRATION);
  await beginRun(db, rolloutId, onInvalid);

  const progress: TemplateMigrationProgress = options.resume
    ? structuredClone(options.resume)
    : {
        cursor: 0,
        batchSize: Math.max(minBatch, options.batchSize ?? 5_000),
        totals: {
          batches: 0,
          scanned: 0,
          written: 0,
          unchanged: 0,
          raceRetries: 0,
          lockRetries: 0,
          timeoutRetries: 0,
          maxBatchMs: 0,
        },
        unknownFields: { total: 0, items: [] },
      };
  const runner = new BatchRunner({
    what: TEMPLATE_MIGRATION,
    signal: options.signal,
    totals: progress.totals,
    retry: options.retry,
    checkpoint: () => options.onProgress?.(structuredClone(progress)),
  });
  // Templates per batch stay as asked: only a statement timeout shrinks them, for the rest of the run.
  const sizer = new BatchSizer({ initial: progress.batchSize, min: minBatch, max: progress.batchSize });
  const pages = new ReadAhead((afterId, limit) =>
    readTemplatePage(db, { afterId, limit, onInvalid, limits }),
  );
  let exhausted = false;
  await runner.sweep(sizer, {
    more: () => !exhausted,
    batch: async (size) => {
      const page = await pages.at(progress.cursor, size);
      const last = page.rows.at(-1);
      // The next page is read and decided while Postgres writes this one (the write re-checks each row).
      if (last && page.rows.length >= page.limit) pages.prefetch(last.row.id, size);
      return writeTemplatePage(db, { rolloutId, page, onInvalid, limits });
    },
    after: (result) => {
      progress.cursor = result.lastId;
      progress.batchSize = sizer.current;
      progress.totals.scanned += result.scanned;
      progress.totals.written += result.written;
      progress.totals.unchanged += result.unchanged;
      progress.totals.raceRetries += result.raceRetries;
      progress.unknownFields.total += result.unknownFields.length;
      const room = listLimit - progress.unknownFields.items.length;
      if (room > 0) progress.unknownFields.items.push(...result.unknownFields.slice(0, room));
      exhausted = result.exhausted;
    },
  });

  await db
    .updateTable('template_migrations')
    .set({ completed_at: sql<Date>`now()` })
    .where('rollout_id', '=', rolloutId)
    .where('completed_at', 'is', null)
    .execute();
  const summary = await summarize(db, rolloutId, listLimit);
  return {
    rolloutId,
    backupTable: record.backup_table,
    onInvalid,
    ...summary,
    unchanged: progress.totals.unchanged,
    unknownFields: progress.unknownFields.items.slice(0, listLimit),
    unknownFieldsTotal: progress.unknownFields.total,
    listLimit,
    batches: progress.totals.batches,
    scanned: progress.totals.scanned,
    maxBatchMs: Math.round(progress.totals.maxBatchMs),
    raceRetries: progress.totals.raceRetries,
    lockRetries: progress.totals.lockRetries,
    timeoutRetries: progress.totals.timeoutRetries,
    resumedFrom: options.resume ? options.resume.cursor : null,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The report's figures from the ledger and the quarantine: exact whatever attempts and crashes came before. */
async function summarize(
  db: Kysely<Database>,
  rolloutId: string,
  listLimit: number,
): Promise<
  Pick<
    TemplateMigrationReport,
    'migrated' | 'quarantined' | 'invalidFieldsDropped' | 'conflicts' | 'conflictsTotal' | 'quarantine'
  >
> {
  const counts = await sql<{
    migrated: number;
    quarantined: number;
    dropped: number;
    conflicts: number;
  }>`
    select (select count(*) from template_migration_changes where rollout_id = ${rolloutId}) as migrated,
           (select count(*) from template_quarantine where rollout_id = ${rolloutId}) as quarantined,
           (select count(*) from template_quarantine
             where rollout_id = ${rolloutId} and action = 'invalid_fields_dropped') as dropped,
           (select coalesce(sum(jsonb_array_length(conflicts)), 0)::bigint from template_migration_changes
             where rollout_id = ${rolloutId} and conflicts is not null) as conflicts
  `.execute(db);
  const conflicts = await sql<{ template_id: number; conflict: SpellingConflict }>`
    select c.template_id, e.value as conflict
    from template_migration_changes c cross join lateral jsonb_array_elements(c.conflicts) as e
    where c.rollout_id = ${rolloutId} and c.conflicts is not null
    order by c.template_id
    limit ${listLimit}
  `.execute(db);
  const quarantine = await db
    .selectFrom('template_quarantine')
    .select(['template_id', 'action', 'issues', 'dropped'])
    .where('rollout_id', '=', rolloutId)
    .orderBy('template_id')
    .limit(listLimit)
    .execute();
  const c = counts.rows[0];
  if (!c) throw new Error('template migration summary returned no row');
  return {
    migrated: c.migrated,
    quarantined: c.quarantined,
    invalidFieldsDropped: c.dropped,
    conflictsTotal: c.conflicts,
    conflicts: conflicts.rows.map(({ template_id, conflict }) => ({
      templateId: template_id,
      field: conflict.field,
      kept: { key: conflict.kept.key, value: showValue(conflict.kept.value) },
      dropped: conflict.dropped.map(({ key, value }) => ({ key, value: showValue(value) })),
      agreed: conflict.agreed,
    })),
    quarantine: quarantine.map((row) => ({
      templateId: row.template_id,
      action: row.action,
      issues: row.issues.slice(0, 5),
      issueCount: row.issues.length,
      droppedFields: (row.dropped ?? []).map((dropped) => dropped.field),
    })),
  };
}
