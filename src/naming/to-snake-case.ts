/**
 * The one key-naming rule (SPEC §4), in both directions. Postgres has a twin of `toSnakeCase`
 * (`to_snake_case(text)`, migration 002) built from the same regular expressions in the same order;
 * `test/integration/to-snake-case-equivalence.test.ts` proves the two agree. Change both or neither.
 *
 * Pure and free of Node built-ins so workflow code may import it.
 *
 * Decisions for odd input (identical in Postgres):
 * - Dots separate namespaces and are kept exactly: no step matches across a dot, so every segment is converted
 *   on its own, and a segment never loses or gains a dot. Empty segments stay empty (`a..b → a..b`,
 *   `.a → .a`), and a segment made only of separators becomes empty (`a.-.b → a..b`): a malformed key stays
 *   visibly malformed instead of silently colliding with a well-formed one.
 * - `-`, `_` and ASCII whitespace (space, \t, \n, \v, \f, \r) are word separators: any run becomes one `_`,
 *   and a segment never starts or ends with `_` (`__private → private`, `max tokens → max_tokens`).
 * - Only ASCII letters are case-split and lowercased. Everything else (`é`, `Ä`, `ß`, emoji, Unicode spaces)
 *   is kept as it is, because JavaScript `toLowerCase` and Postgres `lower()` disagree outside ASCII.
 * - A key of only separators normalizes to the empty string; callers that store keys must reject that.
 */

// Each step is written so its Postgres twin uses the very same pattern text (ARE and JS agree on these).
const LOWER_OR_DIGIT_THEN_UPPER = /([a-z0-9])([A-Z])/g;
const UPPER_RUN_THEN_WORD = /([A-Z]+)([A-Z][a-z])/g;
const SEPARATOR_RUN = /[-_\t\n\v\f\r ]+/g;
const UNDERSCORES_AROUND_DOT = /_*\._*/g;
const EDGE_UNDERSCORES = /^_+|_+$/g;
const ASCII_UPPER = /[A-Z]/g;
const WORD_BREAK = /([a-z0-9])_([a-z])/g;

function asciiLowerCase(text: string): string {
  return text.replace(ASCII_UPPER, (letter) => String.fromCharCode(letter.charCodeAt(0) + 32));
}

/**
 * Normalizes a configuration key to snake_case, keeping dots as namespace separators. Idempotent.
 *
 * @example
 * toSnakeCase('maxTokens'); // 'max_tokens'
 * toSnakeCase('HTTPRequestTimeout'); // 'http_request_timeout'
 * toSnakeCase('llm.maxTokens'); // 'llm.max_tokens'
 */
export function toSnakeCase(key: string): string {
  return asciiLowerCase(
    key
      .replace(LOWER_OR_DIGIT_THEN_UPPER, '$1_$2')
      .replace(UPPER_RUN_THEN_WORD, '$1_$2')
      .replace(SEPARATOR_RUN, '_')
      .replace(UNDERSCORES_AROUND_DOT, '.')
      .replace(EDGE_UNDERSCORES, ''),
  );
}

/**
 * True when the key is already in normal form, i.e. `toSnakeCase` would leave it unchanged.
 *
 * @example
 * isSnakeCase('max_tokens'); // true
 * isSnakeCase('maxTokens'); // false
 */
export function isSnakeCase(key: string): boolean {
  return toSnakeCase(key) === key;
}

/**
 * Turns a snake_case key into the camelCase spelling used by API responses, keeping dots.
 *
 * An `_` is dropped (and the next letter capitalized) only between an ASCII lowercase letter or digit and an
 * ASCII lowercase letter; because matches do not overlap, a one-letter word never capitalizes the next one
 * (`a_b_c → aB_c`, not `aBC`, which would read back as an acronym). This makes it an exact inverse on normal
 * keys: `toSnakeCase(toCamelCase(k)) === k` whenever `isSnakeCase(k)`. The reverse does not hold
 * (`userID → user_id → userId`).
 *
 * @example
 * toCamelCase('max_tokens'); // 'maxTokens'
 * toCamelCase('llm.top_p'); // 'llm.topP'
 */
export function toCamelCase(snake: string): string {
  return snake.replace(WORD_BREAK, (_match, before: string, letter: string) => before + letter.toUpperCase());
}
