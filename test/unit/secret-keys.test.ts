import { LlmParams } from '../../src/schemas/generation-params';
import { isSecretKey, SECRET_KEY_PROVIDERS, SECRET_KEYS } from '../../src/secrets/secret-keys';

describe('the secret-name rule', () => {
  it.each([
    // Bare names.
    'api_key',
    'apiKey',
    'API_KEY',
    'password',
    'PASSWORD',
    'secret',
    'token',
    'private_key',
    // *_api_key, in every spelling.
    'openai_api_key',
    'OpenAIApiKey',
    'openai-api-key',
    'x-api-key',
    'someNewProviderApiKey',
    // <provider>_key.
    'openaiKey',
    'ANTHROPIC_KEY',
    'groq_key',
    // *_password, *_token, *_secret.
    'dbPassword',
    'smtp_password',
    'authToken',
    'github_token',
    'hfToken',
    'webhookSecret',
    'client_secret',
    'jwtSigningSecret',
    'aws_secret_access_key',
    'service_account_credentials',
    // Inside a namespace, including `<provider>.key`.
    'llm.openaiApiKey',
    'llm.openai.api_key',
    'openai.key',
    'db.password',
  ])('%s is a secret', (key) => {
    expect(isSecretKey(key)).toBe(true);
  });

  it.each([
    'max_tokens',
    'maxTokens',
    'thinking_tokens',
    'temperature',
    'api_key_rotation_days',
    'openai_model',
    'cache_key',
    'sortKey',
    'primary_key_column',
    'token_budget',
    'password_min_length',
    'secret_rotation_days',
    'llm.max_tokens',
    'keys.sort',
  ])('%s is not a secret', (key) => {
    expect(isSecretKey(key)).toBe(false);
  });

  it('never calls an LLM parameter a secret (their writes are validated, not encrypted)', () => {
    expect(Object.keys(LlmParams.shape).filter(isSecretKey)).toEqual([]);
  });

  it('lists every name in normal form, and covers <provider>_key and <provider>_api_key of each provider', () => {
    for (const key of SECRET_KEYS) expect(key).toMatch(/^[a-z0-9_]+$/);
    for (const provider of SECRET_KEY_PROVIDERS) {
      expect(isSecretKey(`${provider}_key`)).toBe(true);
      expect(isSecretKey(`${provider}_api_key`)).toBe(true);
    }
  });
});
