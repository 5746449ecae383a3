import { sql } from 'kysely';
import pg from 'pg';
import {
  KEY_UNIQUE_CONSTRAINT,
  NORMALIZATION_BYPASS_SETTING,
} from '../../activities/key-migration/key-migration';
import { allRows, insertLegacyRows } from '../helpers/config-fixtures';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

// Migration 004's trigger: every write is stored under the normalized key, and an insert that collides with
// an existing (normalized key, user) row updates it instead — before, during and after the key migration.

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('key_trigger');
});
afterAll(() => t?.drop());

beforeEach(async () => {
  await sql`alter table runtime_config drop constraint if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(
    t.db,
  );
  await sql`truncate runtime_config restart identity`.execute(t.db);
});

async function addConstraint(): Promise<void> {
  await sql`
    alter table runtime_config add constraint ${sql.id(KEY_UNIQUE_CONSTRAINT)} unique nulls not distinct (key, user_id)
  `.execute(t.db);
}

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: t.url, application_name: 'trigger-test' });
  await c.connect();
  return c;
}

const rows = async () =>
  (await allRows(t.db)).map((row) => ({ id: row.id, key: row.key, user_id: row.user_id, value: row.value }));

test('a camelCase insert is stored under the normalized key', async () => {
  const inserted = await sql<{ id: number; key: string }>`
    insert into runtime_config (key, user_id, value, value_type) values ('HTTPRequestTimeout', null, '30', 'number')
    returning id, key
  `.execute(t.db);
  expect(inserted.rows).toEqual([{ id: 1, key: 'http_request_timeout' }]);
});

test.each([
  ['a user row', 'alice'],
  ['a global row (NULL user id)', null],
])(
  'an insert colliding with %s updates it, even when the existing row is still camelCase',
  async (_, userId) => {
    await insertLegacyRows(t.db, [
      { key: 'maxTokens', userId, value: 'old', updatedAt: '2025-01-01' },
      { key: 'max_tokens', userId: userId === null ? 'someone' : null, value: 'other group' },
    ]);
    const result = await sql`
    insert into runtime_config (key, user_id, value, value_type) values ('max-tokens', ${userId}, 'new', 'number')
    returning id
  `.execute(t.db);
    // The insert became an update: no row inserted, nothing returned, nothing rejected.
    expect(result.rows).toEqual([]);
    expect(await rows()).toEqual([
      { id: 1, key: 'max_tokens', user_id: userId, value: 'new' },
      { id: 2, key: 'max_tokens', user_id: userId === null ? 'someone' : null, value: 'other group' },
    ]);
  },
);

test.each([
  ['before the constraint exists', false],
  ['with the unique constraint', true],
])(
  'two concurrent first inserts of one key %s end as one row with the later value and no error',
  async (_, constrained) => {
    if (constrained) await addConstraint();
    const first = await client();
    const second = await client();
    try {
      await first.query('begin');
      await first.query(
        `insert into runtime_config (key, user_id, value, value_type) values ('topP', 'u1', 'first', 'number')`,
      );
      const blocked = second.query(
        `insert into runtime_config (key, user_id, value, value_type) values ('top_p', 'u1', 'second', 'number')`,
      );
      // The second insert waits on the group's advisory lock until the first commits.
      let waited = false;
      for (let i = 0; i < 100 && !waited; i++) {
        const waiting = await sql<{ n: number }>`
          select count(*) as n from pg_locks where locktype = 'advisory' and not granted
        `.execute(t.db);
        waited = (waiting.rows[0]?.n ?? 0) > 0;
        if (!waited) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(waited).toBe(true);
      await first.query('commit');
      await blocked;
    } finally {
      await first.end();
      await second.end();
    }
    expect(await rows()).toEqual([{ id: 1, key: 'top_p', user_id: 'u1', value: 'second' }]);
  },
);

test('a burst of concurrent inserts of the same new keys never fails and leaves one row per group', async () => {
  await addConstraint();
  const clients = await Promise.all(Array.from({ length: 12 }, () => client()));
  try {
    const spellings = ['maxTokens', 'max_tokens', 'MaxTokens', 'max-tokens'];
    for (let round = 0; round < 10; round++) {
      const user = round % 2 === 0 ? null : `user-${round}`;
      await Promise.all(
        clients.map((c, i) =>
          c.query(
            `insert into runtime_config (key, user_id, value, value_type) values ($1, $2, $3, 'number')`,
            [`round${round}.${spellings[i % spellings.length]}`, user, `v${i}`],
          ),
        ),
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  const live = await rows();
  expect(live).toHaveLength(10);
  expect(new Set(live.map((row) => row.key)).size).toBe(10);
  for (const row of live) expect(row.key).toMatch(/^round\d\.max_tokens$/);
});

test('an update normalizes the key and renews updated_at unless the writer set it', async () => {
  await insertLegacyRows(t.db, [
    { key: 'topK', userId: 'u', value: '40', updatedAt: '2025-01-01T00:00:00Z' },
  ]);
  await sql`update runtime_config set value = '50' where id = 1`.execute(t.db);
  const renewed = await sql<{
    key: string;
    updated_at: Date;
  }>`select key, updated_at from runtime_config`.execute(t.db);
  expect(renewed.rows[0]?.key).toBe('top_k');
  expect(renewed.rows[0]?.updated_at.getTime()).toBeGreaterThan(Date.parse('2025-06-01'));

  await sql`update runtime_config set value = '60', updated_at = '2025-02-02T00:00:00Z' where id = 1`.execute(
    t.db,
  );
  const explicit = await sql<{ updated_at: Date }>`select updated_at from runtime_config`.execute(t.db);
  expect(explicit.rows[0]?.updated_at.toISOString()).toBe('2025-02-02T00:00:00.000Z');
});

test('the bypass setting lets a transaction write keys and duplicates verbatim; other sessions stay normalized', async () => {
  await t.db.transaction().execute(async (trx) => {
    await sql`select set_config(${NORMALIZATION_BYPASS_SETTING}, 'on', true)`.execute(trx);
    await sql`insert into runtime_config (key, value, value_type) values ('maxTokens', '1', 'number'), ('maxTokens', '2', 'number')`.execute(
      trx,
    );
  });
  await sql`insert into runtime_config (key, value, value_type) values ('topP', '1', 'number')`.execute(t.db);
  expect((await rows()).map((row) => row.key)).toEqual(['maxTokens', 'maxTokens', 'top_p']);
});

test('the trigger locks the same advisory key as setConfig: hashtextextended(JSON.stringify([key, userId]), 0)', async () => {
  const cases: [string, string | null][] = [
    ['max_tokens', null],
    ['max_tokens', 'alice'],
    ['quote"and\\backslash', 'tab\tnew\nline'],
    ['control\u0001\u001f', 'é ß 😀 \u2028'],
    ['', ''],
  ];
  for (const [key, userId] of cases) {
    const result = await sql<{ same: boolean }>`
      select runtime_config_write_lock_key(${key}, ${userId}) = hashtextextended(${JSON.stringify([key, userId])}, 0)
        as same
    `.execute(t.db);
    expect([key, userId, result.rows[0]?.same]).toEqual([key, userId, true]);
  }
});
