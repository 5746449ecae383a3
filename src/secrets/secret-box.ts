import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
// 96-bit IVs are the GCM standard size; random ones are safe for far more messages than a config table holds.
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT_VERSION = 'v1';
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Names the environment variable (or other source) in errors; the key text itself never appears. */
const DEFAULT_SOURCE = 'CONFIG_ENCRYPTION_KEY';

/**
 * Decodes a base64 AES-256 key. Every failure says what is wrong and how to make a key, never the key text.
 *
 * @example
 * const key = parseEncryptionKey(process.env.CONFIG_ENCRYPTION_KEY); // `openssl rand -base64 32`
 */
export function parseEncryptionKey(text: string | undefined, source: string = DEFAULT_SOURCE): Buffer {
  const hint = 'generate one with `openssl rand -base64 32`';
  if (text === undefined || text.trim() === '') throw new Error(`${source} is not set: ${hint}`);
  const trimmed = text.trim();
  if (!BASE64.test(trimmed)) throw new Error(`${source} is not valid base64: ${hint}`);
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new Error(`${source} must decode to ${KEY_BYTES} bytes, got ${key.length}: ${hint}`);
  }
  return key;
}

export class SecretDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretDecryptionError';
  }
}

export interface SecretBoxKeys {
  /** New ciphertext is written with this key. */
  currentKeyId: string;
  /** Every key that may still appear in stored ciphertext, by id; must include the current one. */
  keys: ReadonlyMap<string, Buffer>;
}

export interface SecretBox {
  readonly currentKeyId: string;
  /** `v1:<keyId>:<iv>:<tag>:<ciphertext>` (base64 parts), with a fresh IV every call. */
  encrypt(plaintext: string): string;
  /**
   * Decrypts with whichever known key the ciphertext names. `what` (e.g. the config key) goes into errors
   * so an operator can find the row; neither the ciphertext nor the plaintext ever does.
   */
  decrypt(ciphertext: string, what?: string): string;
}

/** True for text in the versioned format, whatever key it names; a plaintext legacy value is not. */
export function isCiphertext(text: string): boolean {
  return text.startsWith(`${FORMAT_VERSION}:`) && text.split(':').length === 5;
}

/**
 * AES-256-GCM with several keys by id, so keys rotate without a flag day: encrypt with the current key,
 * decrypt with any known one, re-encrypt at leisure.
 *
 * @example
 * const box = createSecretBox({ currentKeyId: 'k2', keys: new Map([['k1', oldKey], ['k2', newKey]]) });
 * const stored = box.encrypt('sk-...');
 * box.decrypt(stored, 'openai_api_key'); // 'sk-...'
 */
export function createSecretBox({ currentKeyId, keys }: SecretBoxKeys): SecretBox {
  for (const [id, key] of keys) {
    if (!KEY_ID.test(id)) throw new Error(`encryption key id "${id}" must match ${KEY_ID}`);
    if (key.length !== KEY_BYTES) {
      throw new Error(`encryption key "${id}" must be ${KEY_BYTES} bytes, got ${key.length}`);
    }
  }
  const currentKey = keys.get(currentKeyId);
  if (!currentKey) throw new Error(`current encryption key id "${currentKeyId}" is not among the known keys`);
  // A private copy: a caller mutating its map later cannot swap keys under us.
  const known = new Map(keys);
  // The header is authenticated, so a ciphertext cannot be relabelled with another key id or version.
  const header = (id: string): Buffer => Buffer.from(`${FORMAT_VERSION}:${id}`, 'utf8');

  return {
    currentKeyId,
    encrypt(plaintext: string): string {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, currentKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(header(currentKeyId));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [
        FORMAT_VERSION,
        currentKeyId,
        iv.toString('base64'),
        tag.toString('base64'),
        body.toString('base64'),
      ].join(':');
    },
    decrypt(ciphertext: string, what = 'secret'): string {
      const parts = ciphertext.split(':');
      const [version, id, ivText, tagText, bodyText] = parts;
      if (
        parts.length !== 5 ||
        version !== FORMAT_VERSION ||
        id === undefined ||
        ivText === undefined ||
        tagText === undefined ||
        bodyText === undefined
      ) {
        throw new SecretDecryptionError(
          `${what} is not stored in the ${FORMAT_VERSION}:<keyId>:<iv>:<tag>:<ciphertext> format ` +
            '(a plaintext or corrupted value); write it again through the config writer',
        );
      }
      const key = known.get(id);
      if (!key) {
        throw new SecretDecryptionError(
          `${what} was encrypted with key id "${id}", which is not configured (known: ${[...known.keys()].join(', ')})`,
        );
      }
      const iv = Buffer.from(ivText, 'base64');
      const tag = Buffer.from(tagText, 'base64');
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new SecretDecryptionError(`${what} (key id "${id}") has a malformed IV or authentication tag`);
      }
      try {
        const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(header(id));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(Buffer.from(bodyText, 'base64')), decipher.final()]).toString(
          'utf8',
        );
      } catch {
        // Node's own message is generic ("Unsupported state or unable to authenticate data"); ours names the key.
        throw new SecretDecryptionError(
          `${what} could not be decrypted with key id "${id}": the configured key "${id}" is not the one it was ` +
            'encrypted with, or the stored value was altered',
        );
      }
    },
  };
}

export interface SecretBoxEnv {
  CONFIG_ENCRYPTION_KEY?: string;
  /** Id written into new ciphertext; default `k1`. */
  CONFIG_ENCRYPTION_KEY_ID?: string;
  /** Retired keys still needed to read old ciphertext: `id:base64,id:base64`. */
  CONFIG_ENCRYPTION_PREVIOUS_KEYS?: string;
}

/**
 * Builds the secret box from the environment at startup; a missing or malformed key is a clear startup error.
 *
 * @example
 * const secretBox = secretBoxFromEnv(process.env);
 */
export function secretBoxFromEnv(env: SecretBoxEnv): SecretBox {
  const currentKeyId = env.CONFIG_ENCRYPTION_KEY_ID?.trim() || 'k1';
  if (!KEY_ID.test(currentKeyId)) throw new Error(`CONFIG_ENCRYPTION_KEY_ID must match ${KEY_ID}`);
  const keys = new Map<string, Buffer>();
  for (const entry of (env.CONFIG_ENCRYPTION_PREVIOUS_KEYS ?? '').split(',')) {
    if (entry.trim() === '') continue;
    const separator = entry.indexOf(':');
    const id = entry.slice(0, separator).trim();
    if (separator < 0 || !KEY_ID.test(id)) {
      throw new Error(`CONFIG_ENCRYPTION_PREVIOUS_KEYS entries must look like <keyId>:<base64 key>`);
    }
    keys.set(
      id,
      parseEncryptionKey(entry.slice(separator + 1), `CONFIG_ENCRYPTION_PREVIOUS_KEYS (key id "${id}")`),
    );
  }
  keys.set(currentKeyId, parseEncryptionKey(env.CONFIG_ENCRYPTION_KEY));
  return createSecretBox({ currentKeyId, keys });
}
