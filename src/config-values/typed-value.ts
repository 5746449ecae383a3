/** How a runtime_config value is stored and read back. */
export type ValueType = 'string' | 'number' | 'boolean' | 'json' | 'secret';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What `get` returns: parsed by the row's `value_type` (`json` may be any JSON value). */
export type ConfigValue = JsonValue;

export type PlainValueType = Exclude<ValueType, 'secret'>;

/** A stored value that does not match its `value_type`; names the key and scope, never the value. */
export class ConfigValueError extends Error {
  constructor(
    message: string,
    readonly key: string,
  ) {
    super(message);
    this.name = 'ConfigValueError';
  }
}

const BOOLEANS: Readonly<Record<string, boolean>> = { true: true, false: false };

/**
 * Parses a stored text value by its `value_type`. Legacy writers stored Python's `True`/`False` and padded
 * numbers, so booleans are case-insensitive and numbers may carry surrounding spaces; anything else that
 * does not fit is an error naming the key (the value itself stays out of the message: a misfiled secret
 * must not leak through an error).
 *
 * @example
 * parseStoredValue('0.7', 'number', 'temperature'); // 0.7
 */
export function parseStoredValue(text: string, valueType: PlainValueType, where: string): ConfigValue {
  const fail = (expected: string): never => {
    throw new ConfigValueError(
      `stored value of ${where} is not ${expected} (value_type ${valueType}, ${text.length} characters)`,
      where,
    );
  };
  switch (valueType) {
    case 'string':
      return text;
    case 'number': {
      const trimmed = text.trim();
      const value = Number(trimmed);
      if (trimmed === '' || !Number.isFinite(value)) return fail('a finite number');
      return value;
    }
    case 'boolean': {
      const value = BOOLEANS[text.trim().toLowerCase()];
      if (value === undefined) return fail('true or false');
      return value;
    }
    case 'json':
      try {
        return JSON.parse(text) as JsonValue;
      } catch {
        return fail('valid JSON');
      }
    default:
      return fail(`of a known value_type`);
  }
}

/**
 * The stored text for a value of a given type; rejects a value that does not fit the type, so what a writer
 * stores always reads back.
 *
 * @example
 * serializeValue(512, 'number', 'max_tokens'); // '512'
 */
export function serializeValue(value: ConfigValue, valueType: PlainValueType, where: string): string {
  const fail = (expected: string): never => {
    throw new ConfigValueError(`value for ${where} must be ${expected} (value_type ${valueType})`, where);
  };
  switch (valueType) {
    case 'string':
      return typeof value === 'string' ? value : fail('a string');
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? String(value) : fail('a finite number');
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : fail('a boolean');
    case 'json': {
      const text: string | undefined = JSON.stringify(value);
      return text === undefined ? fail('JSON-serializable') : text;
    }
    default:
      return fail('of a known value_type');
  }
}
