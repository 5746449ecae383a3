import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { z } from 'zod';
import { BatchRunner, timedBatch, type BatchTiming } from '../../db/batch-runner';
import { BatchSizer } from '../../db/batch-sizer';
import { lockingTransaction, pgErrorCode, type RetryOptions } from '../../db/lock-retry';
import { readOnlySnapshot } from '../../db/read-only-snapshot';
import type { Database } from '../../db/schema';
import {
  DEFAULT_LIMITS,
  INDEX_WALK_SETTINGS,
  limitSettings,
  type StatementLimits,
  type TransactionSettings,
} from '../../db/transaction-settings';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { MissingBackupError, findBackupRecord, requireBackup, tableExists } from '../backup/table-backups';

type Db = Kysely<Database> | Transaction<Database>;

/** The table the key migration rewrites. */
export const KEY_TABLE = 'runtime_config';
/** The phase's name in messages and logs. */
export const KEY_MIGRATION = 'key migration';
/** `UNIQUE NULLS NOT DISTINCT (key, user_id)`; its index carries the same name. */
export const KEY_UNIQUE_CONSTRAINT = 'runtime_config_key_user_unique';
/** Transaction-local setting that makes migration 004's trigger leave a write exactly as given. */
export const NORMALIZATION_BYPASS_SETTING = 'rollout.bypass_key_normalization';

/**
 * Matches exactly the keys that `to_snake_case` changes: an ASCII capital, a separator it rewrites (`-`,
 * ASCII whitespace), two `_` in a row, `_` next to a dot, or `_` at either end. Each of the function's steps
 * can only change a key containing one of these, and each leaves none of them behind. One regular
 * expression costs a fraction of the function's five rewrites plus translate, so batches and verification
 * call the function only where this matches. The same text is a
 * valid JavaScript and Postgres (ARE) expression; test/unit/key-migration-rename-pattern.test.ts and
 * test/integration/key-migration-pattern.test.ts check the equivalence on both engines.
 */
export const RENAME_PATTERN = String.raw`[A-Z\t\n\v\f\r -]|__|_\.|\._|^_|_$`;

/**
 * The per-rollout table holding every row the dedupe deleted, as it was when deleted (same columns as
 * `runtime_config`): `discarded_<rollout id>_<table>`. The rollback puts these rows back.
 *
 * @example
 * discardedRowsTableName('r-20261126-ab12'); // 'discarded_r_20261126_ab12_runtime_config'
 */
export function discardedRowsTableName(rolloutId: string, table: string = KEY_TABLE): string {
  if (!ROLLOUT_ID.test(rolloutId)) throw new Error(`rollout id "${rolloutId}" must match ${ROLLOUT_ID}`);
  if (!/^[a-z_][a-z0-9_]{0,30}$/.test(table))
    throw new Error(`table name "${table}" is not a plain identifier`);
  return `discarded_${rolloutId.replaceAll('-', '_')}_${table}`;
}

/**
 * The settings of a rename or dedupe batch: its limits, the planner settings for statements that walk one
 * index range, and the trigger bypass (on only where the statement itself writes the normal form).
 */
function keyBatchSettings(limits: StatementLimits, bypassNormalization: boolean): TransactionSettings {
  return {
    ...limitSettings(limits),
    ...INDEX_WALK_SETTINGS,
    [NORMALIZATION_BYPASS_SETTING]: bypassNormalization ? 'on' : 'off',
  };
}

// ---------------------------------------------------------------------------------------------------------
// Rename

export interface RenameBatchResult extends BatchTiming {
  renamed: number;
  /** Ids up to here are done: the last renamed id when the batch filled up, else the end of the scan. */
  cursor: number;
}

/**
 * How many ids a rename batch may scan per key it may rename. Renaming a row costs far more than scanning one, so
 * bounding a batch by renames (and the scan by this ratio) keeps its duration steady where the share of
 * camelCase keys changes along the table; bounding it by an id range alone made a dense stretch several
 * times slower than the batch before it.
 */
export const RENAME_SCAN_RATIO = 50;

/**
 * Renames the next `limit` keys after id `afterId` (scanning at most up to `scanTo`) to `to_snake_case(key)`,
 * in one short transaction. Idempotent: a renamed key no longer matches, so running it again renames
 * nothing. The update re-reads each row (`set key = to_snake_case(r.key)` and the pattern are evaluated on
 * the latest version), so a row a writer changed meanwhile is renamed from its new version. The
 * normalization trigger is bypassed because the statement already writes the normal form.
 */
export async function renameBatch(
  db: Kysely<Database>,
  afterId: number,
  scanTo: number,
  limit: number,
  limits: StatementLimits = DEFAULT_LIMITS,
): Promise<RenameBatchResult> {
  const { value: row, ...timing } = await timedBatch(db, keyBatchSettings(limits, true), async (trx) => {
    const result = await sql<{ renamed: number; found: number; last_id: number | null }>`
      with candidates as materialized (
        select id from runtime_config
        where id > ${afterId} and id <= ${scanTo} and key collate "C" ~ ${RENAME_PATTERN}
        order by id
        limit ${limit}
      ),
      renamed as (
        update runtime_config r set key = to_snake_case(r.key)
        from candidates c
        where r.id = c.id and r.key collate "C" ~ ${RENAME_PATTERN}
        returning r.id
      )
      select (select count(*) from renamed) as renamed, (select count(*) from candidates) as found,
             (select max(id) from candidates) as last_id
    `.execute(trx);
    const first = result.rows[0];
    if (!first) throw new Error('rename batch returned no row');
    return first;
  });
  return {
    renamed: row.renamed,
    cursor: row.found >= limit && row.last_id !== null ? row.last_id : scanTo,
    ...timing,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Dedupe

/** A (key, user) group in index order; `userId: null` is the global group, which sorts last within a key. */
export interface GroupCursor {
  key: string;
  userId: string | null;
}

/**
 * Which slice of the `(key, user_id)` index a dedupe batch reads. Pages follow index order (NULL user ids
 * last within a key), so every group is seen whole, whatever ids its rows have.
 */
export type DedupePage =
  | { kind: 'start' }
  | { kind: 'after-key'; key: string }
  | { kind: 'in-key'; key: string; userId: string }
  | { kind: 'group'; key: string; userId: string | null };

/** The page that continues after `cursor` (the last group fully handled), or the first page. */
export function pageAfter(cursor: GroupCursor | null): DedupePage {
  if (cursor === null) return { kind: 'start' };
  if (cursor.userId === null) return { kind: 'after-key', key: cursor.key };
  return { kind: 'in-key', key: cursor.key, userId: cursor.userId };
}

function pageQuery(page: DedupePage, limit: number): RawBuilder<unknown> {
  switch (page.kind) {
    case 'start':
      return sql`select key, user_id from runtime_config order by key, user_id limit ${limit}`;
    case 'after-key':
      return sql`select key, user_id from runtime_config where key > ${page.key} order by key, user_id limit ${limit}`;
    case 'in-key':
      // A row comparison (key, user_id) > (k, u) would skip the NULL-user group of k, so that group is added.
      return sql`
        (select key, user_id from runtime_config where key = ${page.key} and user_id > ${page.userId}
          order by key, user_id limit ${limit})
        union all
        (select key, user_id from runtime_config where key = ${page.key} and user_id is null limit ${limit})`;
    case 'group':
      return page.userId === null
        ? sql`select key, user_id from runtime_config where key = ${page.key} and user_id is null`
        : sql`select key, user_id from runtime_config where key = ${page.key} and user_id = ${page.userId}`;
  }
}

export interface DedupeBatchResult extends BatchTiming {
  /** Index entries read. */
  scanned: number;
  /** Rows deleted (and recorded in the discarded-rows table). */
  discarded: number;
  /** Fewer entries than the limit: every group in the page was complete. */
  exhausted: boolean;
  /** The last group handled in full, if any. */
  lastComplete: GroupCursor | null;
  /** The last group read (possibly cut off by the limit). */
  lastSeen: GroupCursor | null;
}

/**
 * Dedupes the complete groups of one page, in one short transaction: per (key, user_id), NULL user ids
 * forming one group, keeps the most recently updated row (then the highest id) and moves the others into
 * `discardedTable`. Finding the groups reads only the index (no per-row probe); only duplicate groups are
 * fetched from the heap. A row is deleted only if it is still the version that lost (`xmin` unchanged): a row
 * a writer touched meanwhile stays, and the constraint build finds and retries any duplicate left that way.
 * Idempotent: a deduped group has one row and is not a duplicate any more.
 */
export async function dedupeBatch(
  db: Kysely<Database>,
  discardedTable: string,
  page: DedupePage,
  limit: number,
  limits: StatementLimits = DEFAULT_LIMITS,
): Promise<DedupeBatchResult> {
  // A 'group' page is complete by construction: it reads the whole group.
  const wholePage = page.kind === 'group';
  const { value: row, ...timing } = await timedBatch(db, keyBatchSettings(limits, false), async (trx) => {
    const result = await sql<{
      scanned: number;
      discarded: number;
      complete_key: string | null;
      complete_user: string | null;
      has_complete: boolean;
      seen_key: string | null;
      seen_user: string | null;
    }>`
      with page as materialized (
        select key, user_id, row_number() over (order by key, user_id) as pos
        from (${pageQuery(page, limit)}) p
        order by key, user_id
        ${wholePage ? sql`` : sql`limit ${limit}`}
      ),
      edge as (select count(*) as scanned from page),
      last_seen as (select key, user_id from page where pos = (select scanned from edge)),
      complete as (
        select p.key, p.user_id, p.pos from page p
        where ${wholePage} or (select scanned from edge) < ${limit}
           or not (p.key = (select key from last_seen) and p.user_id is not distinct from (select user_id from last_seen))
      ),
      dup as (select key, user_id from complete group by key, user_id having count(*) > 1),
      ranked as (
        select m.id, m.xmin,
               row_number() over (partition by dup.key, dup.user_id order by m.updated_at desc, m.id desc) as rank
        from dup cross join lateral (
          -- Two branches: "user_id is not distinct from" could not use the index on user_id.
          select r.id, r.updated_at, r.xmin from runtime_config r where r.key = dup.key and r.user_id = dup.user_id
          union all
          select r.id, r.updated_at, r.xmin from runtime_config r
          where dup.user_id is null and r.key = dup.key and r.user_id is null
        ) m
      ),
      deleted as (
        delete from runtime_config d using ranked
        where ranked.rank > 1 and d.id = ranked.id and d.xmin = ranked.xmin
        returning d.*
      ),
      recorded as (
        insert into ${sql.table(discardedTable)} select * from deleted on conflict (id) do nothing returning id
      ),
      last_complete as (select key, user_id from complete order by pos desc limit 1)
      select (select scanned from edge) as scanned,
             (select count(*) from recorded) as discarded,
             (select key from last_complete) as complete_key,
             (select user_id from last_complete) as complete_user,
             exists (select 1 from last_complete) as has_complete,
             (select key from last_seen) as seen_key,
             (select user_id from last_seen) as seen_user
    `.execute(trx);
    const first = result.rows[0];
    if (!first) throw new Error('dedupe batch returned no row');
    return first;
  });
  return {
    scanned: row.scanned,
    discarded: row.discarded,
    exhausted: wholePage || row.scanned < limit,
    lastComplete:
      row.has_complete && row.complete_key !== null
        ? { key: row.complete_key, userId: row.complete_user }
        : null,
    lastSeen: row.seen_key === null ? null : { key: row.seen_key, userId: row.seen_user },
    ...timing,
  };
}

/**
 * Where the sweep goes after a batch of `page`: the next page, or null when the index is done.
 * A page cut off inside a group continues after the last complete group; a page that is all one (huge)
 * group is followed by a page reading that group alone.
 */
export function nextDedupePage(
  page: DedupePage,
  result: Pick<DedupeBatchResult, 'exhausted' | 'lastComplete' | 'lastSeen'>,
): { next: DedupePage | null; cursor: GroupCursor | null | undefined } {
  if (page.kind === 'group') {
    const cursor = { key: page.key, userId: page.userId };
    return { next: pageAfter(cursor), cursor };
  }
  if (result.exhausted) {
    // The rest of key k (and its NULL-user group) is done; continue with the keys after it.
    if (page.kind === 'in-key') {
      const cursor = { key: page.key, userId: null };
      return { next: pageAfter(cursor), cursor };
    }
    return { next: null, cursor: undefined };
  }
  if (result.lastComplete) return { next: pageAfter(result.lastComplete), cursor: result.lastComplete };
  if (!result.lastSeen) throw new Error('a full dedupe page saw no group');
  return { next: { kind: 'group', ...result.lastSeen }, cursor: undefined };
}

/** Creates the per-rollout table of discarded rows if missing; same columns as runtime_config, keyed by id. */
export async function ensureDiscardedRowsTable(db: Db, rolloutId: string): Promise<string> {
  const table = discardedRowsTableName(rolloutId);
  await sql`
    create table if not exists ${sql.table(table)}
      (like runtime_config including defaults including constraints, primary key (id))
  `.execute(db);
  return table;
}

// ---------------------------------------------------------------------------------------------------------
// Uniqueness

/** The concurrent unique index build found duplicates (left by a write racing the sweep); dedupe again. */
export class DuplicateKeyGroupsError extends Error {
  constructor(cause: unknown) {
    super(`unique index ${KEY_UNIQUE_CONSTRAINT} found duplicate (key, user_id) groups`, { cause });
    this.name = 'DuplicateKeyGroupsError';
  }
}

export type ConstraintOutcome = 'existed' | 'built' | 'attached';

export interface ConstraintResult {
  outcome: ConstraintOutcome;
  /** An INVALID index left by an interrupted build was dropped first. */
  droppedInvalidIndex: boolean;
  lockRetries: number;
}

async function constraintExists(db: Db): Promise<boolean> {
  const result = await sql<{ found: boolean }>`
    select exists (
      select 1 from pg_constraint
      where conrelid = 'runtime_config'::regclass and conname = ${KEY_UNIQUE_CONSTRAINT} and contype = 'u'
    ) as found
  `.execute(db);
  return result.rows[0]?.found ?? false;
}

/** Whether the index exists and, if so, whether it is valid (false after an interrupted concurrent build). */
export async function uniqueIndexState(db: Db): Promise<'missing' | 'valid' | 'invalid'> {
  const result = await sql<{ valid: boolean }>`
    select i.indisvalid as valid
    from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid = 'runtime_config'::regclass and c.relname = ${KEY_UNIQUE_CONSTRAINT}
  `.execute(db);
  const row = result.rows[0];
  if (!row) return 'missing';
  return row.valid ? 'valid' : 'invalid';
}

/**
 * Makes `(key, user_id)` unique NULLS NOT DISTINCT without blocking writers: a concurrent unique index
 * (outside any transaction), then `add constraint ... using index` under a short lock_timeout, retried on lock
 * conflicts. Skips what is already done: an existing constraint, or a valid index waiting to be attached. An
 * INVALID index (a build interrupted by a crash or a duplicate) is dropped and built again. Throws
 * {@link DuplicateKeyGroupsError} when the build finds duplicates.
 */
export async function ensureUniqueKeyConstraint(
  db: Kysely<Database>,
  options: { lockTimeoutMs?: number; retry?: RetryOptions } = {},
): Promise<ConstraintResult> {
  if (await constraintExists(db)) return { outcome: 'existed', droppedInvalidIndex: false, lockRetries: 0 };
  let droppedInvalidIndex = false;
  let outcome: ConstraintOutcome = 'attached';
  let lockRetries = 0;
  const retry: RetryOptions = {
    ...options.retry,
    onRetry: (error, attempt) => {
      lockRetries++;
      options.retry?.onRetry?.(error, attempt);
    },
  };
  const state = await uniqueIndexState(db);
  if (state === 'invalid') {
    await sql`drop index concurrently if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(db);
    droppedInvalidIndex = true;
  }
  if (state !== 'valid') {
    try {
      await sql`
        create unique index concurrently if not exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}
          on runtime_config (key, user_id) nulls not distinct
      `.execute(db);
    } catch (error) {
      if (pgErrorCode(error) === '23505') throw new DuplicateKeyGroupsError(error);
      throw error;
    }
    outcome = 'built';
  }
  await lockingTransaction(db, { lockTimeoutMs: options.lockTimeoutMs ?? 2_000, retry }, async (trx) => {
    // A concurrent run may have attached it between the check and here.
    if (await constraintExists(trx)) return;
    await sql`
      alter table runtime_config
        add constraint ${sql.id(KEY_UNIQUE_CONSTRAINT)} unique using index ${sql.id(KEY_UNIQUE_CONSTRAINT)}
    `.execute(trx);
  });
  return { outcome, droppedInvalidIndex, lockRetries };
}

// ---------------------------------------------------------------------------------------------------------
// Verification

export interface KeyMigrationVerification {
  /** Keys where key <> to_snake_case(key). Must be 0. */
  keysNotNormalized: number;
  /** (key, user_id) groups with more than one row. Must be 0. */
  duplicateGroups: number;
  constraintValid: boolean;
  liveRows: number;
  backupRows: number;
  /** Live rows whose id was in the backup. */
  liveFromBackup: number;
  /** Live rows whose id was not in the backup. */
  insertedAfterBackup: number;
  /** Live rows from the backup whose key differs from the backed-up key. */
  renamed: number;
  discardedRows: number;
  discardedFromBackup: number;
  /** Backup rows neither live nor discarded: deleted by an application after the backup. */
  deletedAfterBackup: number;
  /** Discarded rows that are live again. Must be 0. */
  discardedStillLive: number;
  /** Discarded rows whose group has no live row any more (only an application delete can do that). */
  discardedWithoutSurvivor: number;
  problems: string[];
}

export class KeyMigrationVerificationError extends Error {
  constructor(readonly verification: KeyMigrationVerification) {
    super(`key migration verification failed: ${verification.problems.join('; ')}`);
    this.name = 'KeyMigrationVerificationError';
  }
}

/**
 * Checks the migrated table against the backup and the discarded rows in one snapshot. Exact checks: no key
 * left that `to_snake_case` would change; no duplicate group and a valid constraint; every backup row is live,
 * discarded or deleted by an application (listed), and every live row not in the backup was inserted after
 * it, so live = backup − discarded − deleted after + inserted after holds row by row, not only in total.
 */
export async function verifyKeyMigration(
  db: Kysely<Database>,
  rolloutId: string,
): Promise<KeyMigrationVerification> {
  const record = await findBackupRecord(db, rolloutId, KEY_TABLE);
  if (!record) throw new MissingBackupError(rolloutId, KEY_TABLE, KEY_MIGRATION);
  const discardedTable = discardedRowsTableName(rolloutId);
  return readOnlySnapshot(db, async (trx) => {
    const discardedExists = await tableExists(trx, discardedTable);
    const discarded = discardedExists
      ? sql.table(discardedTable)
      : sql`(select * from runtime_config where false)`;
    const keys = await sql<{ not_normalized: number }>`
        select count(*) as not_normalized from runtime_config
        where key collate "C" ~ ${RENAME_PATTERN} and key <> to_snake_case(key)
      `.execute(trx);
    const duplicates = await sql<{ groups: number }>`
        select count(*) as groups from (
          select 1 from runtime_config group by key, user_id having count(*) > 1
        ) d
      `.execute(trx);
    const counts = await sql<{
      live_rows: number;
      backup_rows: number;
      discarded_rows: number;
      live_from_backup: number;
      inserted_after_backup: number;
      renamed: number;
      discarded_from_backup: number;
      deleted_after_backup: number;
      discarded_still_live: number;
    }>`
        select count(l.id) as live_rows, count(b.id) as backup_rows, count(d.id) as discarded_rows,
               count(*) filter (where b.id is not null and l.id is not null) as live_from_backup,
               count(*) filter (where b.id is null and l.id is not null) as inserted_after_backup,
               count(*) filter (where b.id is not null and l.id is not null and l.key <> b.key) as renamed,
               count(*) filter (where b.id is not null and d.id is not null) as discarded_from_backup,
               count(*) filter (where b.id is not null and l.id is null and d.id is null) as deleted_after_backup,
               count(*) filter (where l.id is not null and d.id is not null) as discarded_still_live
        from runtime_config l
        full join ${sql.table(record.backup_table)} b on b.id = l.id
        full join ${discarded} d on d.id = coalesce(l.id, b.id)
      `.execute(trx);
    const orphans = await sql<{ orphans: number }>`
        select count(*) as orphans from ${discarded} d
        where not exists (select 1 from runtime_config l where l.key = d.key and l.user_id = d.user_id)
          and not exists (
            select 1 from runtime_config l where d.user_id is null and l.key = d.key and l.user_id is null
          )
      `.execute(trx);
    const constraintValid = (await constraintExists(trx)) && (await uniqueIndexState(trx)) === 'valid';
    const c = counts.rows[0];
    if (!c) throw new Error('verification counts returned no row');
    const verification: KeyMigrationVerification = {
      keysNotNormalized: keys.rows[0]?.not_normalized ?? 0,
      duplicateGroups: duplicates.rows[0]?.groups ?? 0,
      constraintValid,
      liveRows: c.live_rows,
      backupRows: c.backup_rows,
      liveFromBackup: c.live_from_backup,
      insertedAfterBackup: c.inserted_after_backup,
      renamed: c.renamed,
      discardedRows: c.discarded_rows,
      discardedFromBackup: c.discarded_from_backup,
      deletedAfterBackup: c.deleted_after_backup,
      discardedStillLive: c.discarded_still_live,
      discardedWithoutSurvivor: orphans.rows[0]?.orphans ?? 0,
      problems: [],
    };
    const v = verification;
    if (v.keysNotNormalized > 0) v.problems.push(`${v.keysNotNormalized} key(s) not in normal form`);
    if (v.duplicateGroups > 0) v.problems.push(`${v.duplicateGroups} duplicate (key, user_id) group(s)`);
    if (!v.constraintValid)
      v.problems.push(`constraint ${KEY_UNIQUE_CONSTRAINT} missing or its index invalid`);
    if (v.backupRows !== record.row_count)
      v.problems.push(`backup holds ${v.backupRows} rows but recorded ${record.row_count}`);
    if (v.discardedStillLive > 0) v.problems.push(`${v.discardedStillLive} discarded row(s) are live`);
    const expectedLive = v.backupRows - v.discardedFromBackup - v.deletedAfterBackup + v.insertedAfterBackup;
    if (v.liveRows !== expectedLive)
      v.problems.push(
        `live rows ${v.liveRows} ≠ backup ${v.backupRows} − discarded ${v.discardedFromBackup} − deleted after backup ${v.deletedAfterBackup} + inserted after backup ${v.insertedAfterBackup}`,
      );
    return verification;
  });
}

// ---------------------------------------------------------------------------------------------------------
// The whole phase

export type KeyMigrationStep = 'rename' | 'dedupe' | 'constraint' | 'verify';

const groupCursorSchema = z.object({ key: z.string(), userId: z.string().nullable() });

/** Heartbeat details: where to resume and what has been done so far. Parsed, never trusted blindly. */
export const keyMigrationProgressSchema = z.object({
  step: z.enum(['rename', 'dedupe', 'constraint', 'verify']),
  /** Ids up to here have been renamed. */
  renameCursor: z.number().int().nonnegative(),
  /** Groups up to here (index order) have been deduped; null before the first. */
  dedupeCursor: groupCursorSchema.nullable(),
  /** Keys renamed per batch (the scan reaches at most RENAME_SCAN_RATIO ids per key further). */
  renameBatchSize: z.number().int().positive(),
  /** Index entries per dedupe batch. */
  dedupeBatchSize: z.number().int().positive(),
  /** The latest batch, for progress displays. */
  lastBatch: z
    .object({ step: z.enum(['rename', 'dedupe']), size: z.number().int(), batchMs: z.number().nonnegative() })
    .nullable()
    .optional(),
  totals: z.object({
    renamed: z.number().int().nonnegative(),
    discarded: z.number().int().nonnegative(),
    batches: z.number().int().nonnegative(),
    maxBatchMs: z.number().nonnegative(),
    maxStatementMs: z.number().nonnegative(),
    lockRetries: z.number().int().nonnegative(),
    timeoutRetries: z.number().int().nonnegative(),
  }),
});

export type KeyMigrationProgress = z.infer<typeof keyMigrationProgressSchema>;

export interface KeyMigrationOptions {
  rolloutId: string;
  /** Target duration of one batch transaction; batch sizes adapt to it. Default 200 ms. */
  targetBatchMs?: number;
  /** Upper bound of a batch: keys renamed by a rename batch, index entries read by a dedupe batch. Default 200,000. */
  maxBatchSize?: number;
  minBatchSize?: number;
  initialBatchSize?: number;
  limits?: Partial<StatementLimits>;
  /** Progress from an earlier attempt (heartbeat details); batches before it are not run again. */
  resume?: KeyMigrationProgress;
  /** Called after every batch and step with the progress to checkpoint. */
  onProgress?: (progress: KeyMigrationProgress) => void;
  /** Checked between batches; an aborted signal stops the phase with its reason. */
  signal?: AbortSignal;
}

export interface KeyMigrationReport {
  rolloutId: string;
  backupTable: string;
  discardedTable: string;
  /** Live rows whose key now differs from the backup (from the data, exact even across crashes). */
  renamed: number;
  /** Rows moved to the discarded-rows table (exact). */
  discarded: number;
  /** Batches run, over all attempts. */
  batches: number;
  maxBatchMs: number;
  maxStatementMs: number;
  lockRetries: number;
  timeoutRetries: number;
  /** Step the run resumed at, when it continued an earlier attempt. */
  resumedAt: KeyMigrationStep | null;
  seconds: { rename: number; dedupe: number; constraint: number; verify: number };
  constraint: ConstraintResult;
  verification: KeyMigrationVerification;
}

const STEPS: readonly KeyMigrationStep[] = ['rename', 'dedupe', 'constraint', 'verify'];

/**
 * Runs the key migration: rename batches over the primary key, then the dedupe sweep over the
 * `(key, user_id)` index, then the unique constraint, then verification. Every batch is its own short
 * transaction sized to `targetBatchMs`; lock conflicts are retried with backoff, a statement timeout retries
 * the batch smaller, anything else propagates. Resumable from any reported progress, and idempotent as a
 * whole: a completed migration run again renames and discards nothing and finds the constraint in place.
 *
 * Why two sweeps: a group's rows can lie anywhere in id order (a camelCase row at id 5, its snake_case twin
 * at id 900,000), so deduping per id range would need an index probe for every row. Once every key is in
 * normal form, each group is a run of adjacent entries in the `(key, user_id)` index, so the dedupe reads
 * the index once, sees every group whole, and touches the heap only for duplicates. Inserts cannot add a
 * duplicate behind either sweep: migration 004's trigger folds them into the group's row. What can (an
 * update moving a row into another group) makes the unique index build fail, and the sweep runs again.
 *
 * @example
 * const report = await runKeyMigration(db, { rolloutId: 'r-20261126-ab12', onProgress: heartbeat });
 * console.log(report.renamed, report.discarded, report.maxBatchMs);
 */
export async function runKeyMigration(
  db: Kysely<Database>,
  options: KeyMigrationOptions,
): Promise<KeyMigrationReport> {
  const { rolloutId } = options;
  const limits: StatementLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const targetMs = options.targetBatchMs ?? 200;
  const max = options.maxBatchSize ?? 200_000;
  const min = Math.min(options.minBatchSize ?? 100, max);
  const initial = options.initialBatchSize ?? Math.min(5_000, max);
  const record = await requireBackup(db, rolloutId, KEY_TABLE, KEY_MIGRATION);
  const discardedTable = await ensureDiscardedRowsTable(db, rolloutId);

  const progress: KeyMigrationProgress = options.resume
    ? structuredClone(options.resume)
    : {
        step: 'rename',
        renameCursor: 0,
        dedupeCursor: null,
        renameBatchSize: Math.max(min, Math.round(initial / 10)),
        dedupeBatchSize: initial,
        lastBatch: null,
        totals: {
          renamed: 0,
          discarded: 0,
          batches: 0,
          maxBatchMs: 0,
          maxStatementMs: 0,
          lockRetries: 0,
          timeoutRetries: 0,
        },
      };
  const resumedAt = options.resume ? options.resume.step : null;
  const report = () => options.onProgress?.(structuredClone(progress));
  const reached = (step: KeyMigrationStep) => STEPS.indexOf(progress.step) <= STEPS.indexOf(step);
  const seconds = { rename: 0, dedupe: 0, constraint: 0, verify: 0 };
  const runner = new BatchRunner({
    what: KEY_MIGRATION,
    signal: options.signal,
    totals: progress.totals,
    checkpoint: report,
  });
  const took = (result: BatchTiming) => {
    progress.totals.maxStatementMs = Math.max(progress.totals.maxStatementMs, result.statementMs);
  };

  async function dedupeSweep(): Promise<void> {
    const sizer = new BatchSizer({ initial: progress.dedupeBatchSize, min, max, targetMs });
    let page = pageAfter(progress.dedupeCursor);
    let done = false;
    await runner.sweep(sizer, {
      more: () => !done,
      batch: (size) => dedupeBatch(db, discardedTable, page, size, limits),
      after: (result) => {
        took(result);
        progress.totals.discarded += result.discarded;
        progress.lastBatch = { step: 'dedupe', size: sizer.current, batchMs: round(result.batchMs) };
        const { next, cursor } = nextDedupePage(page, result);
        if (cursor !== undefined) progress.dedupeCursor = cursor;
        if (page.kind !== 'group') {
          progress.dedupeBatchSize = sizer.record(result.batchMs, result.scanned / sizer.current);
        }
        if (next === null) done = true;
        else page = next;
      },
    });
  }

  if (reached('rename')) {
    const started = performance.now();
    const sizer = new BatchSizer({ initial: progress.renameBatchSize, min, max, targetMs });
    let end = await maxId(db);
    await runner.sweep(sizer, {
      more: () => progress.renameCursor < end,
      batch: (size) => {
        const from = progress.renameCursor;
        return renameBatch(db, from, Math.min(from + size * RENAME_SCAN_RATIO, end), size, limits);
      },
      after: async (result) => {
        took(result);
        progress.renameCursor = result.cursor;
        progress.totals.renamed += result.renamed;
        progress.lastBatch = { step: 'rename', size: sizer.current, batchMs: round(result.batchMs) };
        progress.renameBatchSize = sizer.record(result.batchMs);
        // Rows inserted meanwhile are normalized by the trigger; covering them too costs one cheap pass.
        if (progress.renameCursor >= end) end = await maxId(db);
      },
    });
    progress.step = 'dedupe';
    report();
    seconds.rename = (performance.now() - started) / 1000;
  }

  if (reached('dedupe')) {
    const started = performance.now();
    await dedupeSweep();
    progress.step = 'constraint';
    report();
    seconds.dedupe = (performance.now() - started) / 1000;
  }

  let constraint: ConstraintResult = { outcome: 'existed', droppedInvalidIndex: false, lockRetries: 0 };
  // The index build and the verification each read the whole table: a cancellation stops before them.
  runner.throwIfAborted();
  if (reached('constraint')) {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        constraint = await ensureUniqueKeyConstraint(db, {
          lockTimeoutMs: limits.lockTimeoutMs * 2,
          retry: runner.retry,
        });
        break;
      } catch (error) {
        if (!(error instanceof DuplicateKeyGroupsError) || attempt >= 3) throw error;
        // A write raced the sweep (e.g. an update moving a row into another group): sweep again, rebuild.
        progress.dedupeCursor = null;
        await dedupeSweep();
      }
    }
    progress.step = 'verify';
    report();
    seconds.constraint = (performance.now() - started) / 1000;
  }

  runner.throwIfAborted();
  const verifyStarted = performance.now();
  const verification = await verifyKeyMigration(db, rolloutId);
  seconds.verify = (performance.now() - verifyStarted) / 1000;
  if (verification.problems.length > 0) throw new KeyMigrationVerificationError(verification);
  return {
    rolloutId,
    backupTable: record.backup_table,
    discardedTable,
    renamed: verification.renamed,
    discarded: verification.discardedRows,
    batches: progress.totals.batches,
    maxBatchMs: Math.round(progress.totals.maxBatchMs),
    maxStatementMs: Math.round(progress.totals.maxStatementMs),
    lockRetries: progress.totals.lockRetries,
    timeoutRetries: progress.totals.timeoutRetries,
    resumedAt,
    seconds,
    constraint,
    verification,
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

async function maxId(db: Db): Promise<number> {
  const result = await sql<{ max_id: number | null }>`select max(id) as max_id from runtime_config`.execute(
    db,
  );
  return result.rows[0]?.max_id ?? 0;
}
