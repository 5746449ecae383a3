import { sql } from 'kysely';
import { createServer } from 'node:net';
import { createSqlGate } from '../../activities/gates/sql-gate';
import { gateDefinitionSchema, type SqlGate } from '../../src/gates/gate-definition';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('gates_sql');
  await sql`create table gate_events (id serial primary key, status text not null)`.execute(t.db);
  await sql`insert into gate_events (status) values ('ok'), ('ok'), ('error')`.execute(t.db);
  // A function that writes: `select bump()` reads like a SELECT and passes the plan's keyword check.
  await sql`
    create function bump() returns int language sql as $$
      insert into gate_events (status) values ('bumped') returning id
    $$`.execute(t.db);
});
afterAll(() => t.drop());

const env = () => ({ GATE_DATABASE_URL: t.url });

/** A validated gate, as a plan would give it. */
function gate(query: string, overrides: Record<string, unknown> = {}): SqlGate {
  return gateDefinitionSchema.parse({
    provider: 'sql',
    databaseUrlEnv: 'GATE_DATABASE_URL',
    query,
    threshold: 1,
    ...overrides,
  }) as SqlGate;
}

/** A gate the plan check would have refused, to show the database refuses it too. */
function unchecked(query: string): SqlGate {
  return { ...gate('select 1'), query };
}

async function eventCount(): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from gate_events`.execute(t.db);
  return rows[0]?.n ?? -1;
}

describe('sql provider on the real Postgres', () => {
  it('reads one number and compares it with the threshold', async () => {
    const errors = gate("select count(*) from gate_events where status = 'error'");
    expect(await createSqlGate(errors, { env: env() }).measure(undefined)).toEqual({
      verdict: 'pass',
      value: 1,
      threshold: 1,
      sample: null,
      detail: 'value 1 within value <= 1',
      state: null,
    });
    const strict = gate("select count(*) from gate_events where status = 'error'", { threshold: 0 });
    expect(await createSqlGate(strict, { env: env() }).measure(undefined)).toMatchObject({
      verdict: 'fail',
      detail: 'value 1 breaks value <= 0',
    });
  });

  it('takes the value and sample columns by name and checks minSample', async () => {
    const query =
      "select count(*) filter (where status = 'error')::float / count(*) as value, count(*) as sample from gate_events";
    const result = await createSqlGate(gate(query, { threshold: 0.5, minSample: 3 }), { env: env() }).measure(
      undefined,
    );
    expect(result).toMatchObject({ verdict: 'pass', sample: 3 });
    expect(result.value).toBeCloseTo(1 / 3, 10);
    const thin = await createSqlGate(gate(query, { threshold: 0.5, minSample: 10 }), { env: env() }).measure(
      undefined,
    );
    expect(thin).toMatchObject({ verdict: 'inconclusive', detail: 'sample 3 is below the minimum 10' });
  });

  it('is inconclusive on NULL, on no row or many rows, and on text', async () => {
    const measure = (query: string) => createSqlGate(gate(query), { env: env() }).measure(undefined);
    expect((await measure('select null::int')).detail).toBe('the query returned NULL');
    expect((await measure('select 1 where false')).detail).toBe(
      'the query returned 0 rows; it must return exactly one',
    );
    expect((await measure('select id from gate_events')).detail).toBe(
      'the query returned 3 rows; it must return exactly one',
    );
    expect((await measure("select 'many'")).detail).toBe('the query returned text, not a number');
    expect((await measure('select 12345678901234::bigint')).value).toBe(12345678901234);
    expect((await measure('select 0.25::numeric')).value).toBe(0.25);
  });

  it('refuses a writing query in its read-only transaction, and nothing is written', async () => {
    const before = await eventCount();
    const hidden = await createSqlGate(gate('select bump()'), { env: env() }).measure(undefined);
    expect(hidden.verdict).toBe('inconclusive');
    expect(hidden.detail).toBe(
      'could not measure: query on GATE_DATABASE_URL failed: cannot execute INSERT in a read-only transaction',
    );
    const direct = await createSqlGate(
      unchecked("insert into gate_events (status) values ('x') returning 1"),
      {
        env: env(),
      },
    ).measure(undefined);
    expect(direct.detail).toMatch(/cannot execute INSERT in a read-only transaction$/);
    const smuggled = await createSqlGate(unchecked('select 1; delete from gate_events'), {
      env: env(),
    }).measure(undefined);
    expect(smuggled.detail).toMatch(/cannot insert multiple commands into a prepared statement$/);
    const setter = await createSqlGate(
      unchecked("select setval(pg_get_serial_sequence('gate_events', 'id'), 1000)"),
      {
        env: env(),
      },
    ).measure(undefined);
    expect(setter.detail).toMatch(/cannot execute setval\(\) in a read-only transaction$/);
    expect(await eventCount()).toBe(before);
  });

  it('the plan check refuses the obvious writes before anything runs', () => {
    expect(() => gate("delete from gate_events where status = 'error'")).toThrow(/read-only SELECT/);
    expect(() => gate('select 1; delete from gate_events')).toThrow(/single statement/);
  });

  it("ends a slow query at the gate's timeout", async () => {
    const started = Date.now();
    const slow = await createSqlGate(gate('select pg_sleep(10)', { interval: '1s', timeout: '500ms' }), {
      env: env(),
    }).measure(undefined);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(slow.detail).toBe(
      'could not measure: query on GATE_DATABASE_URL failed: canceling statement due to statement timeout',
    );
  });

  it('names the variable, never the connection string or its password, when the database cannot be reached', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    const url = `postgres://root:pw-s3cret@127.0.0.1:${port}/nowhere`;
    const result = await createSqlGate(gate('select 1'), { env: { GATE_DATABASE_URL: url } }).measure(
      undefined,
    );
    expect(result.verdict).toBe('inconclusive');
    expect(result.detail).toMatch(/^could not measure: query on GATE_DATABASE_URL failed: /);
    expect(result.detail).not.toContain('pw-s3cret');
    expect(result.detail).not.toContain(url);
    const unset = await createSqlGate(gate('select 1'), { env: {} }).measure(undefined);
    expect(unset.detail).toBe('could not measure: the environment variable GATE_DATABASE_URL is not set');
  });
});
