/**
 * Prometheus series selectors as a gate definition writes them, `http_request_duration_seconds_count{config_path="unified"}`
 * or bare matchers `status_code=~"5..", method!="HEAD"`, parsed into label matchers with PromQL's semantics:
 * regular expressions are anchored at both ends and a missing label matches as the empty string. Pure code, so the
 * plan parser refuses a bad selector before anything starts and the providers match scraped samples with the
 * same rules.
 */

export type MatchOperator = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  label: string;
  op: MatchOperator;
  value: string;
}

export interface SeriesSelector {
  /** The sample name, when the selector names one. */
  metric?: string;
  matchers: LabelMatcher[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const OPERATOR = /^(=~|!~|!=|=)/;
const MAX_SELECTOR_LENGTH = 1_000;
const MAX_MATCHERS = 20;
const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', "'": "'", n: '\n', t: '\t', r: '\r' };

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

/** Reads one quoted string at the start of `text`; returns its value and the rest. */
function readQuoted(text: string, where: string): { value: string; rest: string } {
  const quote = text[0];
  if (quote !== '"' && quote !== "'") throw new SelectorError(`expected a quoted value ${where}`);
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const char = text[i] as string;
    if (char === quote) return { value, rest: text.slice(i + 1) };
    if (char === '\\') {
      const next = text[i + 1];
      const escaped = next === undefined ? undefined : ESCAPES[next];
      if (escaped === undefined) throw new SelectorError(`unknown escape "\\${next ?? ''}" ${where}`);
      value += escaped;
      i++;
    } else {
      value += char;
    }
  }
  throw new SelectorError(`unterminated quoted value ${where}`);
}

/** The anchored regular expression PromQL would use for `=~` and `!~`; throws when it does not compile. */
export function matcherRegExp(pattern: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    throw new SelectorError(
      `invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message}`,
    );
  }
}

/**
 * Parses a selector; throws {@link SelectorError} saying what is wrong and where.
 *
 * @example
 * parseSeriesSelector('http_request_duration_seconds_count{config_path="unified"}');
 * // { metric: 'http_request_duration_seconds_count', matchers: [{ label: 'config_path', op: '=', value: 'unified' }] }
 * parseSeriesSelector('status_code=~"5.."'); // { matchers: [{ label: 'status_code', op: '=~', value: '5..' }] }
 */
export function parseSeriesSelector(text: string): SeriesSelector {
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new SelectorError(`a selector has at most ${MAX_SELECTOR_LENGTH} characters`);
  }
  let rest = text.trim();
  const selector: SeriesSelector = { matchers: [] };
  const nameMatch = METRIC_NAME.exec(rest);
  // A bare matcher list starts with a label name too; it is a metric name only when no operator follows.
  if (nameMatch && !OPERATOR.test(rest.slice(nameMatch[0].length).trimStart())) {
    selector.metric = nameMatch[0];
    rest = rest.slice(nameMatch[0].length).trimStart();
    if (rest === '') return selector;
  }
  let braced = false;
  if (rest.startsWith('{')) {
    braced = true;
    rest = rest.slice(1).trimStart();
  } else if (selector.metric !== undefined) {
    throw new SelectorError(
      `expected "{" after ${selector.metric}, got ${JSON.stringify(rest.slice(0, 20))}`,
    );
  }
  while (rest !== '' && !(braced && rest.startsWith('}'))) {
    const where = `at matcher ${selector.matchers.length + 1}`;
    const label = LABEL_NAME.exec(rest)?.[0];
    if (!label)
      throw new SelectorError(`expected a label name ${where}, got ${JSON.stringify(rest.slice(0, 20))}`);
    rest = rest.slice(label.length).trimStart();
    const op = OPERATOR.exec(rest)?.[0] as MatchOperator | undefined;
    if (!op) throw new SelectorError(`expected =, !=, =~ or !~ after ${label}`);
    rest = rest.slice(op.length).trimStart();
    const quoted = readQuoted(rest, `for ${label}`);
    if (op === '=~' || op === '!~') matcherRegExp(quoted.value);
    selector.matchers.push({ label, op, value: quoted.value });
    if (selector.matchers.length > MAX_MATCHERS) throw new SelectorError(`at most ${MAX_MATCHERS} matchers`);
    rest = quoted.rest.trimStart();
    if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
    else if (rest !== '' && !(braced && rest.startsWith('}'))) {
      throw new SelectorError(`expected "," between matchers, got ${JSON.stringify(rest.slice(0, 20))}`);
    }
  }
  if (braced) {
    if (!rest.startsWith('}')) throw new SelectorError('missing "}" at the end of the selector');
    rest = rest.slice(1).trim();
    if (rest !== '')
      throw new SelectorError(`unexpected text after "}": ${JSON.stringify(rest.slice(0, 20))}`);
  }
  return selector;
}

/** Compiles matchers once, for matching many samples. */
export function compileMatchers(
  matchers: readonly LabelMatcher[],
): (labels: Readonly<Record<string, string>>) => boolean {
  const tests = matchers.map(({ label, op, value }) => {
    const regExp = op === '=~' || op === '!~' ? matcherRegExp(value) : undefined;
    return (labels: Readonly<Record<string, string>>): boolean => {
      const actual = labels[label] ?? '';
      if (op === '=') return actual === value;
      if (op === '!=') return actual !== value;
      return (regExp as RegExp).test(actual) === (op === '=~');
    };
  });
  return (labels) => tests.every((test) => test(labels));
}
