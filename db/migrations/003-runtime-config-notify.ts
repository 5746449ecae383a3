import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<any>: they run against whatever schema exists at their point in history.
/* eslint-disable @typescript-eslint/no-explicit-any */

// Readers LISTEN on this channel (src/reader/postgres-notify-transport.ts). Written out, not imported: a
// migration is history and must not change when application code does.
const CHANNEL = 'runtime_config_changed';

// The payload names what changed, never the value (it may be a secret): {"key": normalized, "user_id": ...}.
// NOTIFY payloads must stay under 8000 bytes; a row whose key or user id is too long for that sends
// {"all": true} instead, which readers treat as "drop everything" — slower, never stale.
// Postgres delivers notifications on commit, folds identical ones within a transaction, and drops them on
// rollback, so readers only ever hear about committed changes.
const CREATE_FUNCTION = `
create function runtime_config_notify_change() returns trigger language plpgsql as $$
declare
  old_payload text;
  new_payload text;
begin
  if tg_op = 'TRUNCATE' then
    perform pg_notify('${CHANNEL}', '{"all":true}');
    return null;
  end if;
  -- The key migration renames maxTokens to max_tokens: same normalized key, same value, so no reader can see
  -- a difference and a million-row rename must not flood every listener.
  if tg_op = 'UPDATE' and to_snake_case(old.key) = to_snake_case(new.key)
      and old.user_id is not distinct from new.user_id
      and old.value = new.value and old.value_type = new.value_type then
    return null;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    old_payload := json_build_object('key', to_snake_case(old.key), 'user_id', old.user_id)::text;
    if octet_length(old_payload) > 7000 then old_payload := '{"all":true}'; end if;
    perform pg_notify('${CHANNEL}', old_payload);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    new_payload := json_build_object('key', to_snake_case(new.key), 'user_id', new.user_id)::text;
    if octet_length(new_payload) > 7000 then new_payload := '{"all":true}'; end if;
    -- An update that renames the key (or moves the row to another user) invalidates both places.
    if new_payload is distinct from old_payload then
      perform pg_notify('${CHANNEL}', new_payload);
    end if;
  end if;
  return null;
end
$$
`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql.raw(CREATE_FUNCTION).execute(db);
  await sql`
    create trigger runtime_config_notify_row
      after insert or update or delete on runtime_config
      for each row execute function runtime_config_notify_change()
  `.execute(db);
  await sql`
    create trigger runtime_config_notify_truncate
      after truncate on runtime_config
      for each statement execute function runtime_config_notify_change()
  `.execute(db);
  // The reader finds a key by its normalized form, so legacy camelCase rows are found before, during and
  // after the key migration. Without this index that lookup is a sequential scan evaluating to_snake_case on
  // every row. It is built inside the migrator's transaction (CONCURRENTLY cannot be), which holds writes to
  // runtime_config for the build; that is one pass over the table, run at deploy time before readers start.
  await sql`
    create index runtime_config_normalized_key_user_idx on runtime_config (to_snake_case(key), user_id)
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runtime_config_normalized_key_user_idx`.execute(db);
  await sql`drop trigger if exists runtime_config_notify_truncate on runtime_config`.execute(db);
  await sql`drop trigger if exists runtime_config_notify_row on runtime_config`.execute(db);
  await sql`drop function if exists runtime_config_notify_change()`.execute(db);
}
