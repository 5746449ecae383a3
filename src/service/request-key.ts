import { toCamelCase, toSnakeCase } from '../naming/to-snake-case';
import { isSecretKey } from '../secrets/secret-keys';
import { ServiceError } from './service-error';

/** Longest config key (characters, as decoded from the URL). */
export const MAX_KEY_LENGTH = 256;
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** A config key from a URL, with what every request needs to know about it. */
export interface RequestKey {
  /** As the client spelt it (the legacy path echoes it). */
  readonly raw: string;
  /** Normal form: how it is stored and looked up. */
  readonly normalized: string;
  /** The canonical API spelling (the unified path answers with it). */
  readonly camel: string;
  /** In the secret set by name (a value stored as `secret` under another name is found on read). */
  readonly secret: boolean;
}

export interface RequestKeys {
  /** Throws a 400 `ServiceError` for a key that is empty, too long, has control characters or normalizes to nothing. */
  parse(rawKey: string): RequestKey;
}

/**
 * Parses config keys from URLs, remembering the answer per spelling: the naming rule is seven regular
 * expressions, and a service asks for the same few hundred keys millions of times. Bounded like the reader's
 * alias table: past `maxEntries` spellings the memory starts over.
 *
 * @example
 * const keys = createRequestKeys();
 * keys.parse('maxTokens'); // { raw: 'maxTokens', normalized: 'max_tokens', camel: 'maxTokens', secret: false }
 */
export function createRequestKeys(maxEntries = 10_000): RequestKeys {
  let known = new Map<string, RequestKey>();
  return {
    parse(rawKey) {
      const remembered = known.get(rawKey);
      if (remembered !== undefined) return remembered;
      const normalized =
        rawKey.length <= MAX_KEY_LENGTH && !CONTROL_CHARACTERS.test(rawKey) ? toSnakeCase(rawKey) : '';
      if (normalized === '') {
        throw new ServiceError(
          400,
          `config key must be 1 to ${MAX_KEY_LENGTH} characters without control characters, and name something once normalized`,
        );
      }
      const key: RequestKey = Object.freeze({
        raw: rawKey,
        normalized,
        camel: toCamelCase(normalized),
        secret: isSecretKey(normalized),
      });
      if (known.size >= maxEntries) known = new Map();
      known.set(rawKey, key);
      return key;
    },
  };
}
