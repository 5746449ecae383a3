import fc from 'fast-check';
import { isSnakeCase, toCamelCase, toSnakeCase } from '../../src/naming/to-snake-case';

/** Every example in SPEC §4 "Key naming". */
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

const ODD_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  ['max tokens', 'max_tokens'],
  ['max\t\n tokens', 'max_tokens'],
  ['max__tokens', 'max_tokens'],
  ['max-_- tokens', 'max_tokens'],
  ['__private', 'private'],
  ['trailing_', 'trailing'],
  ['-', ''],
  ['  ', ''],
  ['a..b', 'a..b'],
  ['.maxTokens', '.max_tokens'],
  ['maxTokens.', 'max_tokens.'],
  ['a.-.b', 'a..b'],
  ['llm_.-topP', 'llm.top_p'],
  ['llm.HTTPRequest.URLPath', 'llm.http_request.url_path'],
  ['GPT4', 'gpt4'],
  ['userID2', 'user_id2'],
  ['max4KTokens', 'max4_k_tokens'],
  ['ABCdEFGh', 'ab_cd_ef_gh'],
  ['A', 'a'],
  // Only ASCII is case-split and lowercased; Unicode spaces are not separators.
  ['ÄrgerTokens', 'Ärger_tokens'],
  ['maxÉtat', 'maxÉtat'],
  ['straße', 'straße'],
  ['max\u00a0tokens', 'max\u00a0tokens'],
  ['🚀Launch', '🚀launch'],
];

describe('toSnakeCase', () => {
  it.each(SPEC_EXAMPLES)('SPEC §4: %s → %s', (input, expected) => {
    expect(toSnakeCase(input)).toBe(expected);
  });

  it.each(SPEC_EXAMPLES.map(([, snake]) => snake))('leaves already-snake %s unchanged', (snake) => {
    expect(toSnakeCase(snake)).toBe(snake);
    expect(isSnakeCase(snake)).toBe(true);
  });

  it.each(ODD_KEYS)('odd key %j → %j', (input, expected) => {
    expect(toSnakeCase(input)).toBe(expected);
  });

  it('is idempotent on realistic and arbitrary keys', () => {
    const realistic = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_. -]{0,30}$/);
    fc.assert(
      fc.property(fc.oneof(realistic, fc.string({ unit: 'binary' }), fc.string()), (key) => {
        const once = toSnakeCase(key);
        expect(toSnakeCase(once)).toBe(once);
        expect(isSnakeCase(once)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it('never leaves ASCII uppercase, separators runs or edge underscores in a segment', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii' }), (key) => {
        const snake = toSnakeCase(key);
        expect(snake).not.toMatch(/[A-Z\-\t\n\v\f\r ]|__/);
        for (const segment of snake.split('.')) expect(segment).not.toMatch(/^_|_$/);
        expect(snake.split('.')).toHaveLength(key.split('.').length);
      }),
      { numRuns: 2_000 },
    );
  });

  it('reports non-normal keys', () => {
    expect(isSnakeCase('maxTokens')).toBe(false);
    expect(isSnakeCase('max__tokens')).toBe(false);
    expect(isSnakeCase('_max')).toBe(false);
    expect(isSnakeCase('llm.top_p')).toBe(true);
  });
});

describe('toCamelCase', () => {
  it.each([
    ['max_tokens', 'maxTokens'],
    ['top_p', 'topP'],
    ['llm.max_tokens', 'llm.maxTokens'],
    ['gpt4_turbo', 'gpt4Turbo'],
    ['user_id', 'userId'],
    ['http_request_timeout', 'httpRequestTimeout'],
    ['a_1', 'a_1'],
    ['a_b_c', 'aB_c'],
    ['already', 'already'],
    ['', ''],
  ])('%s → %s', (snake, camel) => {
    expect(toCamelCase(snake)).toBe(camel);
  });

  it.each(SPEC_EXAMPLES.map(([, snake]) => snake))('round-trips SPEC key %s', (snake) => {
    expect(toSnakeCase(toCamelCase(snake))).toBe(snake);
  });

  it('round-trips every snake key: toSnakeCase(toCamelCase(k)) === k', () => {
    const word = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    const segment = fc.array(fc.oneof(word, fc.stringMatching(/^[a-z0-9]{1,3}$/)), {
      minLength: 1,
      maxLength: 5,
    });
    const snakeKey = fc
      .array(
        segment.map((words) => words.join('_')),
        { minLength: 1, maxLength: 3 },
      )
      .map((segments) => segments.join('.'));
    // Normal forms of arbitrary input too, which reach the odd corners (empty segments, non-ASCII, digits).
    const normalized = fc.string({ unit: 'binary-ascii' }).map(toSnakeCase);
    fc.assert(
      fc.property(fc.oneof(snakeKey, normalized), (snake) => {
        expect(isSnakeCase(snake)).toBe(true);
        expect(toSnakeCase(toCamelCase(snake))).toBe(snake);
      }),
      { numRuns: 5_000 },
    );
  });
});
