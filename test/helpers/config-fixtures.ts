import { sql, type Kysely } from 'kysely';
import { NORMALIZATION_BYPASS_SETTING } from '../../activities/key-migration/key-migration';
import { claimRun } from '../../db/rollout-runs';
import type { Database, ValueType } from '../../db/schema';
import { backupTable, type BackupResult } from '../../activities/backup/table-backups';

/** A legacy runtime_config row as it may exist before the key migration (any key spelling, duplicates). */
export interface LegacyRow {
  id?: number;
  key: string;
  userId?: string | null;
  value?: string;
  valueType?: ValueType;
  /** Defaults to now. */
  updatedAt?: Date | string;
}

/**
 * Inserts rows exactly as given, past migration 004's normalization trigger: legacy data predates it, and
 * tests need camelCase keys and duplicates to migrate. Returns the ids in input order.
 *
 * @example
 * const [a, b] = await insertLegacyRows(db, [{ key: 'maxTokens', value: '1' }, { key: 'max_tokens', value: '2' }]);
 */
export async function insertLegacyRows(db: Kysely<Database>, rows: readonly LegacyRow[]): Promise<number[]> {
  if (rows.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    await sql`select set_config(${NORMALIZATION_BYPASS_SETTING}, 'on', true)`.execute(trx);
    const ids: number[] = [];
    for (const row of rows) {
      const at = row.updatedAt === undefined ? sql`now()` : sql`${row.updatedAt}::timestamptz`;
      const result = await sql<{ id: number }>`
        insert into runtime_config (id, key, user_id, value, value_type, created_at, updated_at)
        overriding system value
        values (${row.id === undefined ? sql`nextval(pg_get_serial_sequence('runtime_config', 'id'))` : row.id},
                ${row.key}, ${row.userId ?? null}, ${row.value ?? 'v'}, ${row.valueType ?? 'string'}, ${at}, ${at})
        returning id
      `.execute(trx);
      const inserted = result.rows[0];
      if (!inserted) throw new Error(`insert of ${row.key} returned no id`);
      ids.push(inserted.id);
    }
    // Explicit ids must not collide with later default ones.
    await sql`
      select setval(pg_get_serial_sequence('runtime_config', 'id'),
                    greatest((select max(id) from runtime_config), 1))
    `.execute(trx);
    return ids;
  });
}

/**
 * Records a running rollout (backups reference it) and takes the verified backup of runtime_config.
 *
 * @example
 * await backupRuntimeConfig(db, 'r-test-0001');
 */
export async function backupRuntimeConfig(db: Kysely<Database>, rolloutId: string): Promise<BackupResult> {
  await claimRun(db, {
    rolloutId,
    workflowId: rolloutId,
    flag: `flag-${rolloutId}`,
    project: 'default',
    environment: 'development',
    plan: {},
  });
  return backupTable(db, rolloutId, 'runtime_config');
}

export interface LegacyDataShape {
  rows: number;
  /** Share of rows whose key is camelCase. Default 0.1. */
  camelShare?: number;
  /** Share of groups that have a second row (another spelling or the same key). Default 0.02. */
  duplicateShare?: number;
  /** Share of rows with user_id NULL. Default 0.2. */
  globalShare?: number;
  /**
   * Skip every trigger while loading (session_replication_role = replica; needs superuser): a million
   * NOTIFYs from migration 003's trigger would dominate the load. Default false: only normalization is
   * bypassed.
   */
  skipTriggers?: boolean;
}

/**
 * Fills runtime_config with legacy data in two set-based statements: groups with ids 1..G (user rows: 40
 * keys per user; global rows: one key each), then one extra row for a `duplicateShare` of the groups, with
 * ids after all groups so a group spans batches, in the other spelling or the same one, older or newer.
 * Deterministic (hashint4, not random()), so two loads of the same shape are identical.
 *
 * @example
 * await generateLegacyData(db, { rows: 1_000_000, skipTriggers: true });
 */
export async function generateLegacyData(
  db: Kysely<Database>,
  shape: LegacyDataShape,
): Promise<{ groups: number; duplicates: number }> {
  const camel = shape.camelShare ?? 0.1;
  const duplicateShare = shape.duplicateShare ?? 0.02;
  const global = shape.globalShare ?? 0.2;
  const groups = Math.round(shape.rows / (1 + duplicateShare));
  const duplicates = shape.rows - groups;
  const stride = duplicates > 0 ? Math.max(1, Math.floor(groups / duplicates)) : 1;
  await db.transaction().execute(async (trx) => {
    if (shape.skipTriggers) await sql`set local session_replication_role = replica`.execute(trx);
    else await sql`select set_config(${NORMALIZATION_BYPASS_SETTING}, 'on', true)`.execute(trx);
    // u(g, salt) is a uniform number in [0, 1) derived from g.
    await sql`
      insert into runtime_config (id, user_id, key, value, value_type, created_at, updated_at)
      overriding system value
      select g, case when is_global then null else 'user-' || (g / 40) end,
             case when is_global then 'feature' || g || case when is_camel then 'Enabled' else '_enabled' end
                  else 'param' || (g % 40) || case when is_camel then 'MaxTokens' else '_max_tokens' end end,
             'v' || g, 'string', at, at
      from (
        select g,
               abs(hashint4(g)::bigint) / 2147483648.0 < ${global} as is_global,
               abs(hashint4(g + 1000000007)::bigint) / 2147483648.0 < ${camel} as is_camel,
               timestamptz '2025-01-01' + (abs(hashint4(g + 2000000011)::bigint) % 31536000) * interval '1 second' as at
        from generate_series(1, ${groups}::int) as g
      ) s
    `.execute(trx);
    if (duplicates > 0) {
      await sql`
        insert into runtime_config (id, user_id, key, value, value_type, created_at, updated_at)
        overriding system value
        select ${groups}::int + j, r.user_id,
               case when abs(hashint4(j + 300000007)::bigint) % 2 = 0 then r.key
                    when r.key = to_snake_case(r.key) then replace(replace(r.key, '_max_tokens', 'MaxTokens'), '_enabled', 'Enabled')
                    else to_snake_case(r.key) end,
               'dup' || j, 'string', at, at
        from generate_series(1, ${duplicates}::int) as j
        join runtime_config r on r.id = 1 + ((j - 1) * ${stride}::int) % ${groups}::int
        cross join lateral (
          select timestamptz '2025-01-01' + (abs(hashint4(j + 400000009)::bigint) % 31536000) * interval '1 second' as at
        ) t
      `.execute(trx);
    }
    await sql`
      select setval(pg_get_serial_sequence('runtime_config', 'id'), greatest(${shape.rows}::bigint, 1))
    `.execute(trx);
  });
  await sql`analyze runtime_config`.execute(db);
  return { groups, duplicates };
}

/** Every row, ordered by id, as plain objects: for exact before/after comparisons. */
export async function allRows(
  db: Kysely<Database>,
  table = 'runtime_config',
): Promise<Record<string, unknown>[]> {
  const result = await sql<Record<string, unknown>>`
    select id, user_id, key, value, value_type, created_at, updated_at from ${sql.table(table)} order by id
  `.execute(db);
  return result.rows;
}
