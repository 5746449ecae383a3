import type { ValueType } from '../../db/schema';
import type { ConfigValue } from '../reader/typed-value';
import { LlmParams } from '../schemas/generation-params';
import { inferValueType } from './config-write-body';

const shape = LlmParams.shape;
type LlmField = keyof typeof shape;

/** True for a key (normal form) that names an LLM parameter of SPEC §4: `max_tokens`, `top_p`, `stream`, … */
export function isLlmParamKey(key: string): key is LlmField {
  return Object.hasOwn(shape, key);
}

/**
 * The unified path's check of a write to an LLM parameter: the value must fit the parameter's schema (real
 * ranges) and be stored with the value type its JSON type implies, so a reader gets exactly what the schema
 * describes. Returns one `field: problem` line per problem, empty when fine; any other key has none.
 * Cross-field rules (a thinking budget needs thinking mode) belong to whoever combines the values.
 * (LLM parameters are never secrets, so the schema's messages may show the offending value.)
 *
 * @example
 * llmFieldProblems('temperature', 7, 'number'); // ['temperature: must be at most 2']
 */
export function llmFieldProblems(key: string, value: ConfigValue, valueType: ValueType): string[] {
  if (!isLlmParamKey(key)) return [];
  const result = shape[key].safeParse(value);
  if (!result.success) {
    return result.error.issues.map(
      (issue) => `${[key, ...issue.path.map(String)].join('.')}: ${issue.message}`,
    );
  }
  const expected = inferValueType(value);
  return valueType === expected
    ? []
    : [`${key}: valueType must be ${expected} for this value, got ${valueType}`];
}
