import fc from 'fast-check';
import { RENAME_PATTERN } from '../../activities/key-migration/key-migration';
import { toSnakeCase } from '../../src/naming/to-snake-case';

// The key migration and its verification call to_snake_case only where RENAME_PATTERN matches; that is
// exact only if the pattern matches precisely the keys the rule changes. The Postgres side of the same
// claim is in test/integration/key-migration-pattern.test.ts.

const pattern = new RegExp(RENAME_PATTERN);

const KEYS = [
  'maxTokens',
  'MaxTokens',
  'URLPath',
  'max-tokens',
  'llm.maxTokens',
  'max_tokens',
  'llm.max_tokens',
  'gpt4_turbo',
  '',
  '_',
  '__private',
  'trailing_',
  'a__b',
  'a_.b',
  'a._b',
  'a..b',
  '.a.',
  'max tokens',
  'max\ttokens',
  'max\u000btokens',
  'max\u00a0tokens',
  'ÄrgerTokens',
  'ärger_tokens',
  'straße',
  '😀_ok',
];

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
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
);

test.each(KEYS)('RENAME_PATTERN matches %j exactly when toSnakeCase changes it', (k) => {
  expect(pattern.test(k)).toBe(toSnakeCase(k) !== k);
});

test('RENAME_PATTERN matches exactly the keys toSnakeCase changes, on generated keys', () => {
  fc.assert(
    fc.property(key, (k) => pattern.test(k) === (toSnakeCase(k) !== k)),
    { numRuns: 20_000 },
  );
});

test('a normalized key never matches, so a batch run twice renames nothing the second time', () => {
  fc.assert(
    fc.property(key, (k) => !pattern.test(toSnakeCase(k))),
    { numRuns: 20_000 },
  );
});
