import { toSnakeCase } from '../naming/to-snake-case';

/**
 * Model and cloud providers whose bare `<provider>_key` (`openai_key`, `anthropicKey`) names a credential. A
 * bare `_key` suffix is not a secret in general (`cache_key`, `sort_key`, `primary_key`).
 */
export const SECRET_KEY_PROVIDERS: readonly string[] = [
  'openai',
  // The naming rule splits the brand spelling `OpenAI` into `open_ai`, so `OpenAIKey` lands here.
  'open_ai',
  'anthropic',
  'azure',
  'azure_openai',
  'azure_open_ai',
  'google',
  'gemini',
  'vertex',
  'cohere',
  'mistral',
  'groq',
  'together',
  'fireworks',
  'deepseek',
  'perplexity',
  'xai',
  'x_ai',
  'openrouter',
  'voyage',
  'huggingface',
  'hf',
  'replicate',
  'bedrock',
  'aws',
  'pinecone',
  'langsmith',
  'stripe',
];

/**
 * Names that are credentials whatever comes before them, in normal (snake_case) form. Kept as a list for
 * documentation and tests; {@link isSecretKey} is the rule.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'api_key',
  'password',
  'passphrase',
  'secret',
  'token',
  'private_key',
  'credentials',
  'vertex_credentials',
  'aws_secret_access_key',
  'aws_session_token',
  'hf_token',
  'replicate_api_token',
  ...SECRET_KEY_PROVIDERS.flatMap((provider) => [`${provider}_api_key`, `${provider}_key`]),
]);

/**
 * Endings that make a name a credential: `openai_api_key`, `db_password`, `auth_token`, `webhook_secret`,
 * `client_secret`, `signing_private_key`, `service_account_credentials`. A provider added later is covered
 * without a code change. Erring this way only costs an explicit `getSecret` call; erring the other way stores,
 * echoes and backs up a credential in plaintext. (`max_tokens`, `thinking_tokens` end in `_tokens` and stay
 * plain; no LLM parameter matches, which a unit test checks.)
 */
export const SECRET_SUFFIXES: readonly string[] = [
  '_api_key',
  '_password',
  '_passphrase',
  '_token',
  '_secret',
  '_secret_key',
  '_secret_access_key',
  '_private_key',
  '_credentials',
];

function isSecretName(name: string): boolean {
  return SECRET_KEYS.has(name) || SECRET_SUFFIXES.some((suffix) => name.endsWith(suffix));
}

/**
 * The secret-name rule (SPEC §4): true when a configuration key names a credential, under any spelling —
 * camelCase, PascalCase, UPPER_CASE, kebab-case all go through the project's naming rule first. Values of
 * such keys are stored encrypted (setConfig), never returned by the reader's plain `get`, masked by the
 * config service, and skipped by its cache warm-up. A value written with `valueType: "secret"` is a secret
 * whatever its key.
 *
 * The rule, on the key's last namespace segment (`llm.openai_api_key` → `openai_api_key`):
 * - exactly `api_key`, `password`, `passphrase`, `secret`, `token`, `private_key`, `credentials`;
 * - ending in `_api_key`, `_password`, `_passphrase`, `_token`, `_secret`, `_secret_key`, `_private_key`,
 *   `_credentials`;
 * - `<provider>_key` for the providers in {@link SECRET_KEY_PROVIDERS} (`openai_key`, `anthropicKey`);
 * and on the last two segments joined (`openai.key` → `openai_key`, `db.password` is already `password`).
 *
 * @example
 * isSecretKey('OpenAIApiKey'); // true
 * isSecretKey('dbPassword'); // true
 * isSecretKey('max_tokens'); // false
 */
export function isSecretKey(key: string): boolean {
  const segments = toSnakeCase(key).split('.');
  const name = segments.at(-1) ?? '';
  const withNamespace = segments.slice(-2).join('_');
  return isSecretName(name) || (segments.length > 1 && isSecretName(withNamespace));
}
