import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { createDatabase } from '../../db/create-database';
import { createDatabaseIfMissing, dropDatabase } from '../../db/database-admin';
import { migrateToLatest } from '../../db/migrate';
import type { Database } from '../../db/schema';

export interface TestDatabase {
  url: string;
  db: Kysely<Database>;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database of its own for one test file (SPEC §3: tests create and drop their own databases).
 *
 * @example
 * let t: TestDatabase;
 * beforeAll(async () => { t = await createTestDatabase('backup'); });
 * afterAll(() => t.drop());
 */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  // jest's global setup loaded .env into the environment its test workers inherit.
  if (!base) throw new Error('DATABASE_URL is not set');
  const url = new URL(base);
  const safeLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 30);
  url.pathname = `/test_${safeLabel}_${randomBytes(4).toString('hex')}`;
  const connectionString = url.toString();
  await createDatabaseIfMissing(connectionString);
  const db = createDatabase(connectionString, { applicationName: `test-${safeLabel}`, maxConnections: 5 });
  await migrateToLatest(db);
  return {
    url: connectionString,
    db,
    drop: async () => {
      await db.destroy();
      await dropDatabase(connectionString);
    },
  };
}
