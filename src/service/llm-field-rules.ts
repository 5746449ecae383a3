import type { ValueType } from '../../db/schema';
import type { ConfigValue } from '../config-values/typed-value';
import { LlmParams } from '../schemas/generation-params';
import { inferValueType } from './config-write-body';

const shape = LlmParams.shape;
type LlmField = keyof typeof shape;

/** True for a key (normal form) that names an LLM parameter of SPEC §4: `max_tokens`, `top_p`, `stream`, … */
export function isLlmParamKey(key: string): key is LlmField {
  return Object.hasOwn(shape, key);
}

/** What a value is, without what it says: refusals never quote a value (it may be a misfiled secret). */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'true or false';
  return 'an object';
}

/**
 * The schema's message without the value: its messages end `, got <the value>` where they describe the input,
 * and that part is replaced by the input's kind. Messages of ranges and choices state the rule only.
 */
function withoutValue(message: string, input: unknown): string {
  const got = message.indexOf(', got ');
  return got < 0 ? message : `${message.slice(0, got)}, got ${kindOf(input)}`;
}

/**
 * The check of a write to an LLM parameter, on both paths (the legacy path must not store what a unified
 * reader would refuse): the value must fit the parameter's schema (real ranges) and be stored with the value
 * type its JSON type implies, so a reader gets exactly what the schema describes; an LLM parameter is never a
 * secret. Returns one `field: problem` line per problem, empty when fine; any other key has none. Lines state
 * the rule, never the value. Cross-field rules (a thinking budget needs thinking mode) belong to whoever
 * combines the values.
 *
 * @example
 * llmFieldProblems('temperature', 7, 'number'); // ['temperature: must be at most 2']
 * llmFieldProblems('temperature', 'hot', 'string'); // ['temperature: must be a number, got a string']
 */
export function llmFieldProblems(key: string, value: ConfigValue, valueType: ValueType): string[] {
  if (!isLlmParamKey(key)) return [];
  if (valueType === 'secret') {
    return [`${key}: is an LLM parameter, not a secret; valueType secret is not allowed`];
  }
  const result = shape[key].safeParse(value);
  if (!result.success) {
    return result.error.issues.map((issue) => {
      const input = issue.path.reduce<unknown>(
        (parent, step) =>
          typeof parent === 'object' && parent !== null
            ? (parent as Record<PropertyKey, unknown>)[step]
            : undefined,
        value,
      );
      return `${[key, ...issue.path.map(String)].join('.')}: ${withoutValue(issue.message, input)}`;
    });
  }
  const expected = inferValueType(value);
  return valueType === expected
    ? []
    : [`${key}: valueType must be ${expected} for this value, got ${valueType}`];
}
