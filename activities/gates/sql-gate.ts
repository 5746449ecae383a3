import pg from 'pg';
import type { SqlGate } from '../../src/gates/gate-definition';
import { gateResult, judgeThreshold } from './gate-provider';
import type { GateEnvironment, GateProvider, GateResult, MeasureContext } from './gate-provider';

/** A column value as a number: numbers, numeric and bigint text; undefined for anything else. */
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^\s*[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?\s*$/i.test(value))
    return Number(value);
  if (value === 'NaN') return Number.NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return undefined;
}

/** An error message without the connection string or its password, bounded. */
function safeMessage(error: unknown, connectionString: string): string {
  let message = (error as Error | undefined)?.message ?? String(error);
  let password = '';
  try {
    password = decodeURIComponent(new URL(connectionString).password);
  } catch {
    // not a URL: a key=value connection string; it is removed whole below.
  }
  message = message.split(connectionString).join('(connection string)');
  if (password.length > 0) message = message.split(password).join('***');
  return message.slice(0, 300);
}

/**
 * The `sql` provider: one number from a read-only query. Each measurement opens its own connection and runs
 * the query in a READ ONLY transaction with the gate's timeout as statement, lock and idle timeout, through
 * the extended protocol (one statement only), and always rolls back. Postgres itself refuses a write there
 * ("cannot execute INSERT in a read-only transaction"), whatever the plan check let through. The result is the
 * column named `value` (or the first) of the only row; a column named `sample` is the sample size.
 */
export function createSqlGate(gate: SqlGate, environment: GateEnvironment): GateProvider<null> {
  return {
    provider: 'sql',
    async measure(_previous, context: MeasureContext = {}): Promise<GateResult<null>> {
      const result = gateResult(gate.threshold);
      const connectionString = environment.env[gate.databaseUrlEnv];
      if (!connectionString) {
        return result(
          'inconclusive',
          `could not measure: the environment variable ${gate.databaseUrlEnv} is not set`,
        );
      }
      if (context.signal?.aborted) return result('inconclusive', 'cancelled');
      const client = new pg.Client({
        connectionString,
        connectionTimeoutMillis: gate.timeout,
        // The server-side limits below end a slow query; this ends a dead connection.
        query_timeout: gate.timeout + 1_000,
        application_name: 'rollout-gate',
      });
      client.on('error', () => undefined);
      const abort = () => void client.end().catch(() => undefined);
      context.signal?.addEventListener('abort', abort, { once: true });
      try {
        await client.connect();
        await client.query('begin transaction read only');
        await client.query(`set local statement_timeout = ${Math.floor(gate.timeout)}`);
        await client.query(`set local lock_timeout = ${Math.floor(gate.timeout)}`);
        await client.query(
          `set local idle_in_transaction_session_timeout = ${Math.floor(gate.timeout) + 1_000}`,
        );
        // queryMode 'extended' (pg ≥ 8.8, not yet in its types) sends the text as one prepared statement, so a
        // second statement smuggled after a semicolon is a syntax error rather than run.
        const query = { text: gate.query, rowMode: 'array', queryMode: 'extended' } as pg.QueryArrayConfig;
        const answer = await client.query(query);
        await client.query('rollback');
        if (answer.rows.length !== 1) {
          return result(
            'inconclusive',
            `the query returned ${answer.rows.length} rows; it must return exactly one`,
          );
        }
        const names = answer.fields.map((field) => field.name);
        const row = answer.rows[0] as unknown[];
        const valueIndex = names.includes('value') ? names.indexOf('value') : 0;
        const raw = row[valueIndex];
        if (raw === null || raw === undefined) return result('inconclusive', 'the query returned NULL');
        const value = numeric(raw);
        if (value === undefined) {
          return result(
            'inconclusive',
            `the query returned ${typeof raw === 'string' ? 'text' : typeof raw}, not a number`,
          );
        }
        if (Number.isNaN(value)) return result('inconclusive', 'the query returned NaN');
        const sampleIndex = names.indexOf('sample');
        const sample = sampleIndex >= 0 ? (numeric(row[sampleIndex]) ?? null) : null;
        if (gate.minSample !== undefined) {
          if (sample === null)
            return result(
              'inconclusive',
              'minSample is set but the query has no numeric `sample` column',
              value,
            );
          if (!(sample >= gate.minSample)) {
            return result(
              'inconclusive',
              `sample ${sample} is below the minimum ${gate.minSample}`,
              value,
              sample,
            );
          }
        }
        const { verdict, detail } = judgeThreshold(gate, value);
        return result(verdict, detail, value, sample);
      } catch (error) {
        const reason = context.signal?.aborted ? 'cancelled' : safeMessage(error, connectionString);
        return result('inconclusive', `could not measure: query on ${gate.databaseUrlEnv} failed: ${reason}`);
      } finally {
        context.signal?.removeEventListener('abort', abort);
        await client.end().catch(() => undefined);
      }
    },
  };
}
