import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<any>: they run against whatever schema exists at their point in history.
/* eslint-disable @typescript-eslint/no-explicit-any */

// Written out, not imported: a migration is history and must not change when application code does.
// db/key-migration.ts names the same setting (NORMALIZATION_BYPASS_SETTING).
const BYPASS_SETTING = 'rollout.bypass_key_normalization';

// One lock per (normalized key, user) group, shared by this trigger, setConfig (db/runtime-config-queries.ts
// locks hashtextextended(JSON.stringify([key, userId]), 0)) and anything else that must serialize writers of a
// group. The text is built to be byte-equal to that JSON.stringify (to_json escapes exactly like it), so both
// paths take the same lock; test/integration/key-migration-trigger.test.ts checks the equality.
const CREATE_LOCK_KEY_FUNCTION = `
create function runtime_config_write_lock_key(key text, user_id text) returns bigint
language sql immutable parallel safe
return hashtextextended('[' || to_json(key)::text || ',' || coalesce(to_json(user_id)::text, 'null') || ']', 0)
`;

// Why an insert becomes an update instead of failing or adding a row:
// - Legacy writers keep sending camelCase keys and plain INSERTs. Once the key migration has made
//   (key, user_id) unique NULLS NOT DISTINCT, such an insert would fail; before it, it would add a duplicate
//   that the migration must discard. Updating the group's current row (most recently updated, then highest
//   id: the row the migration keeps) loses nothing and rejects nothing.
// - The race of two concurrent first inserts of one group: both look, neither sees the other's uncommitted
//   row, both insert; with the constraint one fails, without it a duplicate appears. So the trigger first
//   takes a transaction-scoped advisory lock on the group. The second writer waits until the first commits;
//   in READ COMMITTED each statement of this function takes a new snapshot, so its lookup then sees the
//   first row and turns into an update: one row, the later value, no error. (A REPEATABLE READ or
//   SERIALIZABLE writer keeps its old snapshot and gets a serialization or unique error to retry, as with any
//   upsert at those levels.)
// - The lookup matches to_snake_case(key), served by the expression index below, so it also finds legacy
//   camelCase rows, including a row the key migration is renaming at that moment: FOR UPDATE waits for the
//   rename to commit and rechecks the new version, which still matches. That closes the race between a
//   writer and a migration batch without the batch taking any advisory lock.
// - The converted insert returns NULL, so the INSERT reports 0 rows and RETURNING yields nothing; writers that
//   need the id use setConfig (which updates in place itself) or look the row up.
// An UPDATE has its key normalized, and a change that leaves updated_at as it was gets a new one: "most
// recently updated wins" (dedupe) and "written after the backup" (rollback) both rely on it. The key
// migration's own renames bypass the trigger, so they do not count as writes.
// The bypass setting lets the rollback write backed-up camelCase keys and duplicates verbatim, and lets the key
// migration skip work it has already done; it is transaction-local there (set_config(..., true)). Chosen over
// session_replication_role = replica, which needs superuser and would also silence the reader's NOTIFY
// trigger (migration 003), leaving caches stale after a rollback.
const CREATE_TRIGGER_FUNCTION = `
create function runtime_config_normalize_write() returns trigger language plpgsql as $$
declare
  target_id bigint;
begin
  if current_setting('${BYPASS_SETTING}', true) = 'on' then
    return new;
  end if;
  new.key := to_snake_case(new.key);
  if tg_op = 'UPDATE' then
    if new.updated_at = old.updated_at and (new.key, new.value, new.value_type, new.user_id)
        is distinct from (old.key, old.value, old.value_type, old.user_id) then
      new.updated_at := clock_timestamp();
    end if;
    return new;
  end if;

  perform pg_advisory_xact_lock(runtime_config_write_lock_key(new.key, new.user_id));
  -- Two branches, because "user_id is not distinct from x" cannot use the index on user_id.
  if new.user_id is null then
    select id into target_id from runtime_config
      where to_snake_case(key) = new.key and user_id is null
      order by updated_at desc, id desc limit 1 for update;
  else
    select id into target_id from runtime_config
      where to_snake_case(key) = new.key and user_id = new.user_id
      order by updated_at desc, id desc limit 1 for update;
  end if;
  if target_id is null then
    return new;
  end if;
  -- clock_timestamp, not the insert's now(): a writer that waited on the lock still comes out newest.
  update runtime_config
    set key = new.key, value = new.value, value_type = new.value_type,
        updated_at = greatest(new.updated_at, clock_timestamp())
    where id = target_id;
  return null;
end
$$
`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql.raw(CREATE_LOCK_KEY_FUNCTION).execute(db);
  await sql.raw(CREATE_TRIGGER_FUNCTION).execute(db);
  // Migration 003 creates this index for the reader; the trigger's lookup depends on it as well, so this
  // migration makes sure it exists rather than relying on another migration's reasons staying the same.
  await sql`
    create index if not exists runtime_config_normalized_key_user_idx
      on runtime_config (to_snake_case(key), user_id)
  `.execute(db);
  await sql`
    create trigger runtime_config_normalize_write
      before insert or update on runtime_config
      for each row execute function runtime_config_normalize_write()
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists runtime_config_normalize_write on runtime_config`.execute(db);
  await sql`drop function if exists runtime_config_normalize_write()`.execute(db);
  await sql`drop function if exists runtime_config_write_lock_key(text, text)`.execute(db);
}
