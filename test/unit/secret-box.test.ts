import { randomBytes } from 'node:crypto';
import {
  createSecretBox,
  isCiphertext,
  parseEncryptionKey,
  secretBoxFromEnv,
  SecretDecryptionError,
} from '../../src/secrets/secret-box';
import { isSecretKey, SECRET_KEYS } from '../../src/secrets/secret-keys';

const PLAINTEXT = 'sk-live-THIS-IS-PLAINTEXT-123';

function keyText(bytes = 32): string {
  return randomBytes(bytes).toString('base64');
}

describe('parseEncryptionKey', () => {
  it('decodes a 32-byte base64 key', () => {
    const text = keyText();
    expect(parseEncryptionKey(text)).toEqual(Buffer.from(text, 'base64'));
  });

  it.each([
    ['missing', undefined, /CONFIG_ENCRYPTION_KEY is not set/],
    ['empty', '  ', /CONFIG_ENCRYPTION_KEY is not set/],
    ['not base64', 'not base64 at all!', /not valid base64/],
    ['short', randomBytes(16).toString('base64'), /must decode to 32 bytes, got 16/],
    ['long', randomBytes(48).toString('base64'), /must decode to 32 bytes, got 48/],
  ])('rejects a %s key with a clear error that never echoes it', (_name, text, message) => {
    let caught: unknown;
    try {
      parseEncryptionKey(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).toMatch(/openssl rand -base64 32/);
    if (text && text.trim()) expect((caught as Error).message).not.toContain(text.trim());
  });
});

describe('createSecretBox', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  it('round-trips, with a fresh IV every time, in the versioned format', () => {
    const box = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', k1]]) });
    const a = box.encrypt(PLAINTEXT);
    const b = box.encrypt(PLAINTEXT);
    expect(a).not.toEqual(b);
    expect(a).toMatch(/^v1:k1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(a).not.toContain(PLAINTEXT);
    expect(isCiphertext(a)).toBe(true);
    expect(box.decrypt(a)).toBe(PLAINTEXT);
    expect(box.decrypt(box.encrypt(''))).toBe('');
    expect(box.decrypt(box.encrypt('ünïcödé 🔑'))).toBe('ünïcödé 🔑');
  });

  it('rotates: encrypts with the current key and decrypts with any known key', () => {
    const old = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', k1]]) });
    const rotated = createSecretBox({
      currentKeyId: 'k2',
      keys: new Map([
        ['k1', k1],
        ['k2', k2],
      ]),
    });
    const before = old.encrypt(PLAINTEXT);
    const after = rotated.encrypt(PLAINTEXT);
    expect(after.startsWith('v1:k2:')).toBe(true);
    expect(rotated.decrypt(before)).toBe(PLAINTEXT);
    expect(rotated.decrypt(after)).toBe(PLAINTEXT);
  });

  it('names the key id, never the plaintext or key, when the key is wrong', () => {
    const writer = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', k1]]) });
    const wrongKey = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', k2]]) });
    const stored = writer.encrypt(PLAINTEXT);
    expect(() => wrongKey.decrypt(stored, 'config key "openai_api_key"')).toThrow(SecretDecryptionError);
    try {
      wrongKey.decrypt(stored, 'config key "openai_api_key"');
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('"k1"');
      expect(message).toContain('openai_api_key');
      expect(message).not.toContain(PLAINTEXT);
      expect(message).not.toContain(k1.toString('base64'));
      expect(message).not.toContain(k2.toString('base64'));
      expect(message).not.toContain(stored);
    }
  });

  it('rejects an unknown key id, a relabelled or altered ciphertext, and plaintext, without echoing them', () => {
    const box = createSecretBox({
      currentKeyId: 'k1',
      keys: new Map([
        ['k1', k1],
        ['k2', k2],
      ]),
    });
    const stored = box.encrypt(PLAINTEXT);
    const other = createSecretBox({ currentKeyId: 'k9', keys: new Map([['k9', k1]]) }).encrypt(PLAINTEXT);
    expect(() => box.decrypt(other)).toThrow(/key id "k9", which is not configured \(known: k1, k2\)/);
    expect(() => box.decrypt(stored.replace('v1:k1:', 'v1:k2:'))).toThrow(
      /could not be decrypted with key id "k2"/,
    );
    const parts = stored.split(':');
    const body = Buffer.from(parts[4] as string, 'base64');
    body[0] = (body[0] ?? 0) ^ 1;
    parts[4] = body.toString('base64');
    expect(() => box.decrypt(parts.join(':'))).toThrow(/could not be decrypted/);
    expect(() => box.decrypt(PLAINTEXT, 'openai_api_key')).toThrow(/not stored in the v1/);
    try {
      box.decrypt(PLAINTEXT);
    } catch (error) {
      expect((error as Error).message).not.toContain(PLAINTEXT);
    }
  });

  it('refuses a key set without the current key, a short key or an odd key id', () => {
    expect(() => createSecretBox({ currentKeyId: 'k2', keys: new Map([['k1', k1]]) })).toThrow(
      /"k2" is not among/,
    );
    expect(() => createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(16)]]) })).toThrow(
      /32 bytes, got 16/,
    );
    expect(() => createSecretBox({ currentKeyId: 'a:b', keys: new Map([['a:b', k1]]) })).toThrow(/key id/);
  });
});

describe('secretBoxFromEnv', () => {
  it('reads the current key, its id and previous keys', () => {
    const oldText = keyText();
    const oldBox = createSecretBox({
      currentKeyId: 'k1',
      keys: new Map([['k1', Buffer.from(oldText, 'base64')]]),
    });
    const box = secretBoxFromEnv({
      CONFIG_ENCRYPTION_KEY: keyText(),
      CONFIG_ENCRYPTION_KEY_ID: 'k2',
      CONFIG_ENCRYPTION_PREVIOUS_KEYS: `k1:${oldText}`,
    });
    expect(box.currentKeyId).toBe('k2');
    expect(box.decrypt(oldBox.encrypt(PLAINTEXT))).toBe(PLAINTEXT);
  });

  it('is a clear startup error without a key, and names the bad previous key by id only', () => {
    expect(() => secretBoxFromEnv({})).toThrow(/CONFIG_ENCRYPTION_KEY is not set/);
    const short = randomBytes(8).toString('base64');
    expect(() =>
      secretBoxFromEnv({ CONFIG_ENCRYPTION_KEY: keyText(), CONFIG_ENCRYPTION_PREVIOUS_KEYS: `old:${short}` }),
    ).toThrow(/CONFIG_ENCRYPTION_PREVIOUS_KEYS \(key id "old"\) must decode to 32 bytes/);
  });
});

describe('isSecretKey', () => {
  it.each([
    'openai_api_key',
    'openaiApiKey',
    'OpenAIApiKey',
    'OPENAI_API_KEY',
    'openai-api-key',
    'anthropicApiKey',
    'azure_api_key',
    'azureOpenaiApiKey',
    'AzureOpenAIApiKey',
    'googleApiKey',
    'geminiApiKey',
    'cohereApiKey',
    'mistralApiKey',
    'llm.openaiApiKey',
    'hfToken',
    'someNewProviderApiKey',
  ])('%s is a secret', (key) => {
    expect(isSecretKey(key)).toBe(true);
  });

  it.each([
    'max_tokens',
    'maxTokens',
    'temperature',
    'api_key_rotation_days',
    'openai_model',
    'thinking_tokens',
  ])('%s is not a secret', (key) => {
    expect(isSecretKey(key)).toBe(false);
  });

  it('lists every secret in normal form', () => {
    for (const key of SECRET_KEYS) expect(key).toMatch(/^[a-z0-9_]+$/);
  });
});
