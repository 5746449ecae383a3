import {
  ConfigValueError,
  parseStoredValue,
  serializeValue,
  type ConfigValue,
  type PlainValueType,
} from '../../src/config-values/typed-value';

describe('parseStoredValue', () => {
  it.each([
    ['hello', 'string', 'hello'],
    ['', 'string', ''],
    ['0.7', 'number', 0.7],
    [' 512 ', 'number', 512],
    ['-1e3', 'number', -1000],
    ['true', 'boolean', true],
    ['False', 'boolean', false],
    ['TRUE', 'boolean', true],
    ['{"a":[1,null]}', 'json', { a: [1, null] }],
    ['"text"', 'json', 'text'],
    ['null', 'json', null],
  ] as const)('%j as %s is %j', (text, type, expected) => {
    expect(parseStoredValue(text, type, 'k')).toEqual(expected);
  });

  it.each([
    ['abc', 'number', /not a finite number/],
    ['', 'number', /not a finite number/],
    ['Infinity', 'number', /not a finite number/],
    ['yes', 'boolean', /not true or false/],
    ['1', 'boolean', /not true or false/],
    ['{oops', 'json', /not valid JSON/],
  ] as const)('%j as %s is a ConfigValueError naming the key but not the value', (text, type, message) => {
    let caught: unknown;
    try {
      parseStoredValue(text, type, 'config key "max_tokens"');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigValueError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).toContain('max_tokens');
    if (text.length > 1) expect((caught as Error).message).not.toContain(text);
  });
});

describe('serializeValue', () => {
  it('writes text that parses back to the same value', () => {
    const cases: [ConfigValue, PlainValueType][] = [
      ['s', 'string'],
      [0.25, 'number'],
      [false, 'boolean'],
      [{ nested: { list: [1, 'two', true, null] } }, 'json'],
    ];
    for (const [value, type] of cases) {
      expect(parseStoredValue(serializeValue(value, type, 'k'), type, 'k')).toEqual(value);
    }
  });

  it('rejects a value that does not fit its type', () => {
    expect(() => serializeValue('512', 'number', 'max_tokens')).toThrow(/max_tokens must be a finite number/);
    expect(() => serializeValue(Number.NaN, 'number', 'k')).toThrow(ConfigValueError);
    expect(() => serializeValue(1, 'boolean', 'k')).toThrow(/must be a boolean/);
    expect(() => serializeValue(true, 'string', 'k')).toThrow(/must be a string/);
    expect(() => serializeValue(undefined as unknown as null, 'json', 'k')).toThrow(/JSON-serializable/);
  });
});
