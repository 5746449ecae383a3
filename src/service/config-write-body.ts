import { z } from 'zod';
import type { ValueType } from '../../db/schema';
import { toSnakeCase } from '../naming/to-snake-case';
import type { ConfigValue } from '../config-values/typed-value';
import { formatZodIssues } from '../schemas/generation-params';
import { ServiceError } from './service-error';
import { isPlainObject } from '../json/json-values';

export const VALUE_TYPES = [
  'string',
  'number',
  'boolean',
  'json',
  'secret',
] as const satisfies readonly ValueType[];

/** `user`: the requesting user's own value; `global`: the value every user without their own gets. */
export type WriteScope = 'user' | 'global';

export interface ConfigWrite {
  value: ConfigValue;
  valueType: ValueType;
  scope: WriteScope;
}

// Messages are fixed text: zod's defaults for these never quote the input, and ours must not either (the
// value may be a secret).
const bodySchema = z.strictObject(
  {
    value: z.json({ error: 'value must be JSON: a string, number, boolean, null, list or object' }),
    value_type: z
      .enum(VALUE_TYPES, { error: `valueType must be one of ${VALUE_TYPES.join(', ')}` })
      .optional(),
    scope: z.enum(['user', 'global'], { error: 'scope must be "user" or "global"' }).optional(),
  },
  { error: (issue) => (issue.code === 'invalid_type' ? 'body must be a JSON object' : undefined) },
);

const EXAMPLE = '{"value": 512, "valueType": "number"}';

/** The value type a value of this JSON type is stored as when the client does not say. */
export function inferValueType(value: ConfigValue): ValueType {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    default:
      return 'json';
  }
}

/**
 * Reads a `PUT /api/config/:key` body: `{ value, valueType?, scope? }` with its field names in camelCase or
 * snake_case (`value_type`). A missing `valueType` follows the JSON type of the value; a missing `scope` is
 * the user's own value when the request names a user, else the global one. Two spellings of one field are
 * rejected without quoting either value (unlike the generic either-case parser, whose message shows values:
 * this body may carry a secret).
 *
 * @example
 * parseConfigWriteBody({ value: 512, value_type: 'number' }, 'user-42'); // { value: 512, valueType: 'number', scope: 'user' }
 */
export function parseConfigWriteBody(body: unknown, userId: string | undefined): ConfigWrite {
  if (!isPlainObject(body)) throw new ServiceError(400, `body must be a JSON object like ${EXAMPLE}`);
  const spellings = new Map<string, string[]>();
  for (const key of Object.keys(body)) {
    const normalized = toSnakeCase(key);
    spellings.set(normalized, [...(spellings.get(normalized) ?? []), key]);
  }
  const repeated = [...spellings.values()].filter((keys) => keys.length > 1);
  if (repeated.length > 0) {
    const described = repeated.map((keys) => keys.join(' and ')).join('; ');
    throw new ServiceError(400, `body gives a field more than once (${described}); give one spelling`);
  }
  // fromEntries defines own properties, so a "__proto__" field stays an ordinary (and unknown) key.
  const renamed = Object.fromEntries(Object.entries(body).map(([key, value]) => [toSnakeCase(key), value]));
  if (!('value' in renamed)) throw new ServiceError(400, `body needs a value, like ${EXAMPLE}`);
  const parsed = bodySchema.safeParse(renamed);
  if (!parsed.success) {
    throw new ServiceError(400, `invalid body: ${formatZodIssues(parsed.error, 'body').join('; ')}`);
  }
  const value = parsed.data.value as ConfigValue;
  const scope = parsed.data.scope ?? (userId === undefined ? 'global' : 'user');
  if (scope === 'user' && userId === undefined) {
    throw new ServiceError(400, 'scope "user" needs the x-user-id header naming the user');
  }
  return { value, valueType: parsed.data.value_type ?? inferValueType(value), scope };
}
