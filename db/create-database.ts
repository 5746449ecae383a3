import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

const INT8_OID = 20;

/** bigint columns (ids, counts) come back as numbers; a value past 2^53 is an error, never a silent rounding. */
function parseInt8(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new RangeError(`bigint ${value} does not fit a JavaScript number`);
  return parsed;
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface DatabaseOptions {
  /** Pool size; each worker activity slot that touches Postgres holds one connection at a time. */
  maxConnections?: number;
  /** Shown in pg_stat_activity, so an operator can tell the rollout worker's sessions apart. */
  applicationName?: string;
  connectionTimeoutMs?: number;
  /**
   * Told about errors on idle pooled connections (terminated by an operator, a failover, a restart). The pool
   * drops such a connection and opens a new one when needed; without a listener Node would crash the process.
   */
  onIdleError?: (error: Error) => void;
}

/**
 * Opens a Kysely instance on its own pg pool. The caller owns it and must `destroy()` it.
 *
 * @example
 * const db = createDatabase(env.DATABASE_URL, { applicationName: 'rollout-worker' });
 * await db.selectFrom('runtime_config').selectAll().execute();
 * await db.destroy();
 */
export function createDatabase(connectionString: string, options: DatabaseOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'unified-config-rollout',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    types,
  });
  pool.on('error', (error) => {
    (
      options.onIdleError ??
      ((e: Error) => process.stderr.write(`postgres pool: idle connection lost: ${e.message}\n`))
    )(error);
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
