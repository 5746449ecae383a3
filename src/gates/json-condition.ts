import type { JsonCondition } from './gate-definition';

const MISSING = Symbol('missing');

/** Splits `checks.db[0].status` into keys and indexes. */
function steps(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of path.split('.')) {
    const match = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part);
    if (!match) return [];
    out.push(match[1] as string);
    for (const index of (match[2] ?? '').matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}

/** The value at `path` in a parsed JSON body, or MISSING. Own properties only. */
function lookup(body: unknown, path: string): unknown {
  let current: unknown = body;
  for (const step of steps(path)) {
    if (typeof step === 'number') {
      if (!Array.isArray(current) || step >= current.length) return MISSING;
      current = current[step];
    } else {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return MISSING;
      if (!Object.prototype.hasOwnProperty.call(current, step)) return MISSING;
      current = (current as Record<string, unknown>)[step];
    }
  }
  return current;
}

function shown(value: unknown): string {
  if (value === MISSING) return 'missing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * Checks one condition of an `http` gate against a parsed JSON body: undefined when it holds, otherwise what
 * was found instead, for the measurement's detail.
 *
 * @example
 * jsonConditionProblem({ status: 'ok' }, { path: 'status', op: '==', value: 'ok' }); // undefined
 * jsonConditionProblem({ n: 5 }, { path: 'n', op: '<', value: 3 }); // 'n is 5, expected < 3'
 */
export function jsonConditionProblem(body: unknown, condition: JsonCondition): string | undefined {
  const actual = lookup(body, condition.path);
  const expected = condition.value;
  let holds: boolean;
  switch (condition.op) {
    case 'exists':
      holds = actual !== MISSING;
      break;
    case 'absent':
      holds = actual === MISSING;
      break;
    case '==':
      holds = actual === expected;
      break;
    case '!=':
      holds = actual !== MISSING && actual !== expected;
      break;
    default: {
      const a = actual as number;
      const b = expected as number;
      holds =
        typeof actual === 'number' &&
        typeof expected === 'number' &&
        (condition.op === '<'
          ? a < b
          : condition.op === '<='
            ? a <= b
            : condition.op === '>'
              ? a > b
              : a >= b);
    }
  }
  if (holds) return undefined;
  const want =
    condition.op === 'exists' || condition.op === 'absent'
      ? condition.op
      : `${condition.op} ${shown(expected)}`;
  return `${condition.path} is ${shown(actual)}, expected ${want}`;
}
