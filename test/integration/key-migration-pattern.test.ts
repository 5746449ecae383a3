import fc from 'fast-check';
import { sql } from 'kysely';
import { RENAME_PATTERN } from '../../activities/key-migration/key-migration';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

// The rename batches and the verification trust `key collate "C" ~ RENAME_PATTERN` to pick exactly the keys
// where key <> to_snake_case(key). Checked here on Postgres itself, with its regex engine and function.

const BATCH = 1_000;
const BATCHES = 30;

// Postgres text cannot hold NUL.
const withoutNul = (text: string) => text.replaceAll('\u0000', '');
const word = fc.oneof(
  fc.stringMatching(/^[a-z]{1,6}$/),
  fc.stringMatching(/^[A-Z][a-z]{1,6}$/),
  fc.stringMatching(/^[A-Z]{2,4}$/),
  fc.stringMatching(/^[0-9]{1,3}$/),
  fc.constantFrom(
    '-',
    '_',
    '__',
    ' ',
    '.',
    '..',
    '\t',
    '\n',
    '\r',
    '\f',
    '\u000b',
    '_.',
    '._',
    'é',
    'Ä',
    '\u00a0',
  ),
);
const key = fc.oneof(
  { weight: 4, arbitrary: fc.array(word, { minLength: 1, maxLength: 8 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 16 }).map(withoutNul) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(withoutNul) },
);

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase('key_pattern');
});
afterAll(() => t?.drop());

test(`the pattern matches exactly the keys to_snake_case changes (${BATCH * BATCHES} generated keys)`, async () => {
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(key, { minLength: BATCH, maxLength: BATCH }), async (keys) => {
      const { rows } = await sql<{ key: string; matches: boolean; changes: boolean }>`
        select k as key, k collate "C" ~ ${RENAME_PATTERN} as matches, k <> to_snake_case(k) as changes
        from unnest(${keys}::text[]) as k
      `.execute(t.db);
      const wrong = rows.filter((row) => row.matches !== row.changes);
      if (wrong.length > 0)
        throw new Error(`pattern and to_snake_case disagree: ${JSON.stringify(wrong.slice(0, 3))}`);
      checked += rows.length;
    }),
    {
      numRuns: BATCHES,
      reporter: (run) => {
        if (run.failed) throw new Error(`seed ${run.seed}: ${String(run.errorInstance)}`);
      },
    },
  );
  expect(checked).toBe(BATCH * BATCHES);
});
