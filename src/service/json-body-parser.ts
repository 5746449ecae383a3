import { ServiceError } from './service-error';

/** Deeper than any configuration value needs, far shallower than what exhausts a recursive validator's stack. */
export const MAX_JSON_DEPTH = 64;

/**
 * The deepest nesting of `[` and `{` in JSON text, counted in one pass without recursion (brackets inside
 * strings do not count). Stops counting once past `limit`, so a hostile body costs one scan at most.
 *
 * @example
 * jsonNestingDepth('{"a": [1, {"b": "[["}]}'); // 3
 */
export function jsonNestingDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c /* \ */) index += 1;
      else if (char === 0x22 /* " */) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x5b /* [ */ || char === 0x7b /* { */) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (char === 0x5d /* ] */ || char === 0x7d /* } */) {
      depth -= 1;
    }
  }
  return deepest;
}

/**
 * Refuses a body nested deeper than {@link MAX_JSON_DEPTH} with a 400 before it is parsed: parsing and then
 * validating it recursively would overflow the stack (a 500). The message states the limit, not the body.
 *
 * @example
 * assertJsonDepth(body); // then JSON.parse(body)
 */
export function assertJsonDepth(text: string, limit = MAX_JSON_DEPTH): void {
  if (jsonNestingDepth(text, limit) > limit) {
    throw new ServiceError(400, `body nests lists and objects deeper than ${limit} levels`);
  }
}
