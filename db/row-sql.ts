import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from './schema';

// SQL fragments shared by the backup checksum and the restores' verification. The restores prove "the
// untouched rows still hash to the backup's checksum", so both must hash rows the very same way.

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function isPlainIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** Checks a name read from the catalogue before it is spliced into SQL. */
export function plainIdentifier(name: string, what: string): string {
  if (!isPlainIdentifier(name)) throw new Error(`${what} "${name}" is not a plain identifier`);
  return name;
}

/** `a.c1, a.c2, ...` */
export function columnList(alias: string, columns: readonly string[]): RawBuilder<unknown> {
  return sql.join(columns.map((column) => sql.ref(`${alias}.${column}`)));
}

/** `row(a.c1, a.c2, ...)`: compared with IS [NOT] DISTINCT FROM so NULLs compare equal. */
export function rowOf(alias: string, columns: readonly string[]): RawBuilder<unknown> {
  return columns.length === 0 ? sql`row()` : sql`row(${columnList(alias, columns)})`;
}

/**
 * One row's contribution to a table checksum: the first 64 bits of the md5 of its text form, as a number,
 * so checksums are sums (independent of row order and physical layout).
 */
export function rowHash(row: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`('x' || left(md5(${row}::text), 16))::bit(64)::bigint::numeric`;
}

/** A table's columns in order (a backup has the live table's), each checked as a plain identifier. */
export async function tableColumns(
  db: Kysely<Database> | Transaction<Database>,
  table: string,
): Promise<string[]> {
  const result = await sql<{ column_name: string }>`
    select column_name from information_schema.columns
    where table_schema = current_schema() and table_name = ${table}
    order by ordinal_position
  `.execute(db);
  return result.rows.map((row) => plainIdentifier(row.column_name, 'column'));
}
