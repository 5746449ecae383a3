import { sql, type Kysely, type Transaction } from 'kysely';
import { KEY_TABLE, KEY_UNIQUE_CONSTRAINT, RENAME_PATTERN, uniqueIndexState } from './key-migration';
import type { Database } from '../../db/schema';

type Db = Kysely<Database> | Transaction<Database>;

/** One key spelling the migration would rename, and how many rows carry it. */
export interface RenameExample {
  from: string;
  to: string;
  rows: number;
}

/** One row the dedupe would discard: its group (normalized key, user) and the row that wins the group. */
export interface DiscardExample {
  id: number;
  key: string;
  group: { key: string; userId: string | null };
  winnerId: number;
}

/** What the key migration would do to `runtime_config` (SPEC §5 phase 1); keys, ids and counts only, never values. */
export interface KeyMigrationPreview {
  rows: number;
  /** Rows whose key `to_snake_case` changes. */
  keysToRename: number;
  /** Distinct key spellings among them. */
  distinctKeysToRename: number;
  renameExamples: RenameExample[];
  /** `(to_snake_case(key), user_id)` groups with more than one row (NULL user ids form one group). */
  duplicateGroups: number;
  /** Rows the dedupe would delete (kept in the discarded-rows table for the rollback). */
  rowsToDiscard: number;
  discardExamples: DiscardExample[];
  /** `UNIQUE NULLS NOT DISTINCT (key, user_id)` already in place. */
  constraintExists: boolean;
  /** State of the constraint's index: an `invalid` one is a leftover of an interrupted build, rebuilt by the migration. */
  uniqueIndex: 'missing' | 'valid' | 'invalid';
}

/**
 * Computes, without writing, what the key migration would rename and discard. Duplicates follow SPEC §4, as
 * the dedupe does: per `(to_snake_case(key), user_id)`, the most recently updated row wins, then the highest
 * id. `to_snake_case` is only called where {@link RENAME_PATTERN} matches (every other key is already
 * normal). Run it inside a read-only transaction with a statement_timeout; it reads the table twice.
 *
 * @example
 * const preview = await previewKeyMigration(trx, { exampleLimit: 20 });
 * // With three rows keyed maxTokens, the most frequent camelCase spelling:
 * preview.renameExamples[0]; // { from: 'maxTokens', to: 'max_tokens', rows: 3 }
 */
export async function previewKeyMigration(
  db: Db,
  options: { exampleLimit?: number } = {},
): Promise<KeyMigrationPreview> {
  const limit = options.exampleLimit ?? 20;
  const normalized = sql`case when key collate "C" ~ ${RENAME_PATTERN} then to_snake_case(key) else key end`;

  const renames = await sql<{
    from_key: string;
    to_key: string;
    rows: number;
    total_rows: number;
    spellings: number;
  }>`
    with renamed as (
      select key as from_key, ${normalized} as to_key, count(*)::bigint as rows
      from ${sql.table(KEY_TABLE)}
      where key collate "C" ~ ${RENAME_PATTERN}
      group by key
    ),
    changed as (select * from renamed where to_key <> from_key)
    select from_key, to_key, rows,
           (select coalesce(sum(rows), 0)::bigint from changed) as total_rows,
           (select count(*)::bigint from changed) as spellings
    from changed
    order by rows desc, from_key collate "C"
    limit ${limit}
  `.execute(db);

  const totals = await sql<{ rows: number; groups: number; discarded: number }>`
    with grouped as (
      select ${normalized} as norm_key, user_id, count(*)::bigint as n
      from ${sql.table(KEY_TABLE)}
      group by 1, 2
    )
    select (select coalesce(sum(n), 0)::bigint from grouped) as rows,
           count(*) filter (where n > 1)::bigint as groups,
           coalesce(sum(n - 1) filter (where n > 1), 0)::bigint as discarded
    from grouped
  `.execute(db);

  const discards = await sql<{
    id: number;
    key: string;
    norm_key: string;
    user_id: string | null;
    winner_id: number;
  }>`
    with ranked as (
      select id, key, ${normalized} as norm_key, user_id,
             row_number() over w as rank,
             first_value(id) over w as winner_id
      from ${sql.table(KEY_TABLE)}
      window w as (partition by ${normalized}, user_id order by updated_at desc, id desc)
    )
    select id, key, norm_key, user_id, winner_id from ranked
    where rank > 1
    order by norm_key collate "C", user_id collate "C" nulls last, id
    limit ${limit}
  `.execute(db);

  const constraint = await sql<{ found: boolean }>`
    select exists (
      select 1 from pg_constraint
      where conrelid = ${KEY_TABLE}::regclass and conname = ${KEY_UNIQUE_CONSTRAINT} and contype = 'u'
    ) as found
  `.execute(db);

  const first = renames.rows[0];
  const total = totals.rows[0];
  return {
    rows: Number(total?.rows ?? 0),
    keysToRename: Number(first?.total_rows ?? 0),
    distinctKeysToRename: Number(first?.spellings ?? 0),
    renameExamples: renames.rows.map((r) => ({ from: r.from_key, to: r.to_key, rows: Number(r.rows) })),
    duplicateGroups: Number(total?.groups ?? 0),
    rowsToDiscard: Number(total?.discarded ?? 0),
    discardExamples: discards.rows.map((r) => ({
      id: Number(r.id),
      key: r.key,
      group: { key: r.norm_key, userId: r.user_id },
      winnerId: Number(r.winner_id),
    })),
    constraintExists: constraint.rows[0]?.found ?? false,
    uniqueIndex: await uniqueIndexState(db),
  };
}
