import { assertJsonDepth, jsonNestingDepth, MAX_JSON_DEPTH } from '../../src/service/json-body-parser';
import { ServiceError } from '../../src/service/service-error';

describe('JSON nesting depth', () => {
  it.each([
    ['1', 0],
    ['{}', 1],
    ['{"a": [1, {"b": 2}]}', 3],
    ['{"a": "[[[{{{", "b": "\\\\", "c": "\\"[["}', 1],
    ['[[], [[]], []]', 3],
  ])('of %s is %d', (text, depth) => {
    expect(jsonNestingDepth(text)).toBe(depth);
  });

  it('accepts the limit and refuses one level more with a 400 that does not quote the body', () => {
    const nested = (depth: number): string =>
      `{"value":${'['.repeat(depth - 1)}"sk-x"${']'.repeat(depth - 1)}}`;
    expect(() => assertJsonDepth(nested(MAX_JSON_DEPTH))).not.toThrow();
    let error: unknown;
    try {
      assertJsonDepth(nested(MAX_JSON_DEPTH + 1));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).statusCode).toBe(400);
    expect((error as ServiceError).message).toBe(
      `body nests lists and objects deeper than ${MAX_JSON_DEPTH} levels`,
    );
  });

  it('stops counting a hostile body early', () => {
    expect(jsonNestingDepth('['.repeat(1_000_000), 64)).toBe(65);
  });
});
