import { sql, type Kysely } from 'kysely';
import { toSnakeCase } from '../src/naming/to-snake-case';
import { serializeValue, type ConfigValue } from '../src/config-values/typed-value';
import type { SecretBox } from '../src/secrets/secret-box';
import { isSecretKey } from '../src/secrets/secret-keys';
import type { Database, RuntimeConfigRow, ValueType } from './schema';

export type EffectiveConfigRow = Pick<RuntimeConfigRow, 'id' | 'key' | 'user_id' | 'value' | 'value_type'>;

/**
 * The row a reader sees for a normalized key: the user's own value if any, else the global one. Rows are
 * matched by `to_snake_case(key)` (served by migration 003's expression index), so legacy camelCase rows are
 * found before, during and after the key migration. Among duplicates the most recently updated row wins,
 * then the highest id (SPEC §4, the rule the key migration keeps).
 *
 * @example
 * const row = await findEffectiveConfigRow(db, 'max_tokens', 'user-42');
 */
export async function findEffectiveConfigRow(
  db: Kysely<Database>,
  normalizedKey: string,
  userId: string | null,
): Promise<EffectiveConfigRow | undefined> {
  return db
    .selectFrom('runtime_config')
    .select(['id', 'key', 'user_id', 'value', 'value_type'])
    .where(sql<string>`to_snake_case(key)`, '=', normalizedKey)
    .where((eb) =>
      userId === null
        ? eb('user_id', 'is', null)
        : eb.or([eb('user_id', '=', userId), eb('user_id', 'is', null)]),
    )
    .orderBy(sql`user_id is null`)
    .orderBy('updated_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export interface SetConfigInput {
  /** Any spelling; stored and matched in normal form. */
  key: string;
  /** `null` writes the global value. */
  userId: string | null;
  /** Must fit `valueType`; a secret is the plaintext string, encrypted here. */
  value: ConfigValue;
  valueType: ValueType;
}

export interface SetConfigOptions {
  /** Required when the key is a secret (by `valueType` or by name). */
  secretBox?: SecretBox;
  /** Bound on each statement, the wait for the group's lock included. Default 5,000 ms. */
  timeoutMs?: number;
}

export interface SetConfigResult {
  id: number;
  key: string;
  created: boolean;
  /**
   * False when the row already held exactly this value and type: nothing was written, so `updated_at` (which
   * decides which duplicate a dedupe keeps) is untouched and no invalidation is sent. A secret is always
   * written (fresh ciphertext each time).
   */
  changed: boolean;
}

/**
 * Writes one value: updates the row readers see for (normalized key, user) when one exists, else inserts a
 * row under the normalized key. A write that changes nothing (same stored value and type) leaves the row as
 * it is: its `updated_at` keeps deciding which duplicate survives a dedupe, and readers hear of no change. Secrets (by `valueType` or by name, any spelling) are encrypted with the
 * given secret box and stored as `value_type = 'secret'`. The reader's trigger notification fires on commit.
 *
 * Works without the unique constraint the key migration adds (no ON CONFLICT): a transaction-scoped advisory
 * lock per (normalized key, user) serializes writers, so two concurrent first writes cannot both insert. The
 * lock name is `JSON.stringify([key, userId])`; migration 004's write trigger takes the very same lock.
 * The update does not rename a legacy row's key itself (migration 004's trigger normalizes every written key).
 *
 * @example
 * await setConfig(db, { key: 'maxTokens', userId: null, value: 512, valueType: 'number' });
 * await setConfig(db, { key: 'openaiApiKey', userId: null, value: 'sk-...', valueType: 'secret' }, { secretBox });
 */
export async function setConfig(
  db: Kysely<Database>,
  input: SetConfigInput,
  options: SetConfigOptions = {},
): Promise<SetConfigResult> {
  const key = toSnakeCase(input.key);
  if (key === '') throw new Error(`config key ${JSON.stringify(input.key)} has no name once normalized`);
  let stored: string;
  let valueType: ValueType;
  if (input.valueType === 'secret' || isSecretKey(key)) {
    if (typeof input.value !== 'string') throw new Error(`secret ${key} must be a string`);
    if (!options.secretBox) {
      throw new Error(`${key} is a secret and setConfig was given no secret box to encrypt it`);
    }
    stored = options.secretBox.encrypt(input.value);
    valueType = 'secret';
  } else {
    stored = serializeValue(input.value, input.valueType, key);
    valueType = input.valueType;
  }

  const timeoutMs = Math.max(1, Math.round(options.timeoutMs ?? 5_000));
  try {
    return await writeRow(db, { key, userId: input.userId, stored, valueType, timeoutMs });
  } catch (error) {
    // Names the key and scope, never the value (it may be a secret).
    throw new Error(
      `setConfig ${key} (${input.userId === null ? 'global' : 'user'} value) failed: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function writeRow(
  db: Kysely<Database>,
  row: { key: string; userId: string | null; stored: string; valueType: ValueType; timeoutMs: number },
): Promise<SetConfigResult> {
  const { key, stored, valueType } = row;
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('statement_timeout', ${String(row.timeoutMs)}, true)`.execute(trx);
    const lockName = JSON.stringify([key, row.userId]);
    await sql`select pg_advisory_xact_lock(hashtextextended(${lockName}, 0))`.execute(trx);
    const current = await trx
      .selectFrom('runtime_config')
      .select(['id', 'value', 'value_type'])
      .where(sql<string>`to_snake_case(key)`, '=', key)
      .where('user_id', row.userId === null ? 'is' : '=', row.userId)
      .orderBy('updated_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .forUpdate()
      .executeTakeFirst();
    // clock_timestamp, not now(): a writer that waited on the lock must still come out as the newest row.
    if (current && current.value === stored && current.value_type === valueType) {
      return { id: current.id, key, created: false, changed: false };
    }
    if (current) {
      await trx
        .updateTable('runtime_config')
        .set({ value: stored, value_type: valueType, updated_at: sql<Date>`clock_timestamp()` })
        .where('id', '=', current.id)
        .execute();
      return { id: current.id, key, created: false, changed: true };
    }
    const inserted = await trx
      .insertInto('runtime_config')
      .values({
        key,
        user_id: row.userId,
        value: stored,
        value_type: valueType,
        created_at: sql<Date>`clock_timestamp()`,
        updated_at: sql<Date>`clock_timestamp()`,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: inserted.id, key, created: true, changed: true };
  });
}
