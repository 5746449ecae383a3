import { sql } from 'kysely';
import { createDatabase } from '../../db/create-database';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase('pool');
});
afterAll(() => database?.drop());

test('an idle pooled connection terminated by the server is reported and replaced, not a crash', async () => {
  const lost: Error[] = [];
  const db = createDatabase(database.url, {
    applicationName: 'pool-probe',
    maxConnections: 1,
    onIdleError: (e) => lost.push(e),
  });
  try {
    await sql`select 1`.execute(db); // leaves one idle connection in the pool
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pool-probe' and datname = current_database()`.execute(
      database.db,
    );
    for (let i = 0; i < 100 && lost.length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(lost[0]?.message).toMatch(/terminat/i);
    const again = await sql<{ one: number }>`select 1 as one`.execute(db);
    expect(again.rows).toEqual([{ one: 1 }]);
  } finally {
    await db.destroy();
  }
});
