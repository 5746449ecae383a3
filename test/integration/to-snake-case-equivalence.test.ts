import fc from 'fast-check';
import { sql } from 'kysely';
import { toSnakeCase } from '../../src/naming/to-snake-case';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

const SPEC_EXAMPLES: ReadonlyArray<readonly [string, string]> = [
  ['maxTokens', 'max_tokens'],
  ['topP', 'top_p'],
  ['MaxTokens', 'max_tokens'],
  ['URLPath', 'url_path'],
  ['userID', 'user_id'],
  ['HTTPRequestTimeout', 'http_request_timeout'],
  ['gpt4Turbo', 'gpt4_turbo'],
  ['max-tokens', 'max_tokens'],
  ['llm.maxTokens', 'llm.max_tokens'],
];

const ODD_KEYS = [
  '',
  '-',
  ' _ ',
  'a..b',
  '.a.',
  'a.-.b',
  '__x__',
  'ÄrgerTokens',
  'straße',
  'max\u00a0tokens',
];

const BATCH_SIZE = 1_000;
const BATCHES = 50;

// Postgres text cannot hold NUL (U+0000), so generated keys never contain it; fast-check's 'binary' and
// 'grapheme' units never produce lone surrogates, which UTF-8 (and so Postgres) cannot represent either.
const withoutNul = (text: string): string => text.replaceAll('\u0000', '');

const word = fc.oneof(
  fc.stringMatching(/^[a-z]{1,8}$/), // camel head: max
  fc.stringMatching(/^[A-Z][a-z]{1,8}$/), // Pascal word: Tokens
  fc.stringMatching(/^[A-Z]{2,5}$/), // acronym: HTTP
  fc.stringMatching(/^[0-9]{1,3}$/),
  fc.constantFrom('-', '_', '__', ' ', '.', '..', '\t', '-_', 'ID', 'URL', 'gpt4', 'é', 'Ä', 'ß', '\u00a0'),
);
const realisticKey = fc.array(word, { minLength: 1, maxLength: 8 }).map((parts) => parts.join(''));
const key = fc.oneof(
  { weight: 6, arbitrary: realisticKey },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 24 }).map(withoutNul) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }).map(withoutNul) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map(withoutNul) },
);

interface SqlResult {
  snake: string;
  twice: string;
}

describe('to_snake_case (Postgres) ≡ toSnakeCase (TypeScript)', () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase('to_snake_case');
  });
  afterAll(() => t?.drop());

  /** One round trip for a whole batch, results in input order. */
  async function inPostgres(keys: readonly string[]): Promise<SqlResult[]> {
    const { rows } = await sql<SqlResult>`
      select to_snake_case(k.key) as snake, to_snake_case(to_snake_case(k.key)) as twice
      from unnest(${keys}::text[]) with ordinality as k(key, ord)
      order by k.ord`.execute(t.db);
    expect(rows).toHaveLength(keys.length);
    return rows;
  }

  it('agrees on every SPEC §4 example and the odd keys', async () => {
    const keys = [
      ...SPEC_EXAMPLES.map(([camel]) => camel),
      ...SPEC_EXAMPLES.map(([, snake]) => snake),
      ...ODD_KEYS,
    ];
    const rows = await inPostgres(keys);
    rows.forEach((row, i) => expect([keys[i], row.snake]).toEqual([keys[i], toSnakeCase(keys[i] ?? '')]));
    SPEC_EXAMPLES.forEach(([input, expected], i) =>
      expect([input, rows[i]?.snake]).toEqual([input, expected]),
    );
  });

  it(`agrees on ${BATCH_SIZE * BATCHES} generated keys, and is idempotent on them`, async () => {
    let checked = 0;
    await fc.assert(
      // Fixed-size batches keep the count exact; fast-check still shrinks the keys inside a failing batch.
      fc.asyncProperty(fc.array(key, { minLength: BATCH_SIZE, maxLength: BATCH_SIZE }), async (keys) => {
        const rows = await inPostgres(keys);
        const mismatches = keys
          .map((k, i) => ({ key: k, typescript: toSnakeCase(k), ...rows[i] }))
          .filter((r) => r.snake !== r.typescript || r.twice !== r.snake);
        if (mismatches.length > 0) {
          throw new Error(
            `${mismatches.length} key(s) differ, first: ${JSON.stringify(mismatches.slice(0, 3))}`,
          );
        }
        checked += keys.length;
      }),
      {
        numRuns: BATCHES,
        // Reports the shrunk mismatch and the seed, not the 1,000-key counterexample array.
        reporter: (run) => {
          if (run.failed) throw new Error(`seed ${run.seed}: ${String(run.errorInstance)}`);
        },
      },
    );
    expect(checked).toBeGreaterThanOrEqual(10_000);
  });

  it('is declared immutable, strict and parallel safe', async () => {
    const { rows } = await sql<{
      volatile: string;
      strict: boolean;
      parallel: string;
      nullResult: string | null;
    }>`
      select p.provolatile as volatile, p.proisstrict as strict, p.proparallel as parallel,
             to_snake_case(null) as "nullResult"
      from pg_proc p where p.oid = 'to_snake_case(text)'::regprocedure`.execute(t.db);
    expect(rows).toEqual([{ volatile: 'i', strict: true, parallel: 's', nullResult: null }]);
  });
});
