import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<any>: they run against whatever schema exists at their point in history.
/* eslint-disable @typescript-eslint/no-explicit-any */

// The SQL twin of src/naming/to-snake-case.ts: the same patterns in the same order, so both give the same
// result for every input (proven by test/integration/to-snake-case-equivalence.test.ts). Written out here
// rather than imported, because a migration is history and must not change when application code does.
// - `collate "C"` keeps the regex ranges plain code-point ranges whatever the database collation is.
// - translate() lowercases ASCII only: lower() would also fold non-ASCII letters, which the TS rule keeps.
// - No step can match across a dot, so each dot-separated segment is converted on its own without splitting.
// - String.raw keeps the backslashes for Postgres (standard_conforming_strings is on since 9.1).
const CREATE_FUNCTION = String.raw`
create or replace function to_snake_case(key text) returns text
language sql immutable strict parallel safe
return translate(
  regexp_replace(
    regexp_replace(
      regexp_replace(
        regexp_replace(
          regexp_replace(key collate "C", '([a-z0-9])([A-Z])', '\1_\2', 'g'),
          '([A-Z]+)([A-Z][a-z])', '\1_\2', 'g'),
        '[-_\t\n\v\f\r ]+', '_', 'g'),
      '_*\._*', '.', 'g'),
    '^_+|_+$', '', 'g'),
  'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  'abcdefghijklmnopqrstuvwxyz')
`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql.raw(CREATE_FUNCTION).execute(db);
  await sql
    .raw(
      `comment on function to_snake_case(text) is ` +
        `'SPEC §4 key naming; must equal toSnakeCase in src/naming/to-snake-case.ts for every input'`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw('drop function if exists to_snake_case(text)').execute(db);
}
