import { toSnakeCase } from '../naming/to-snake-case';

/**
 * Configuration keys whose values are credentials (SPEC §4), in normal (snake_case) form. Stored encrypted,
 * never returned by the reader's plain `get`, never logged.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'openai_api_key',
  // The naming rule splits the brand spelling `OpenAI` into `open_ai`, so `OpenAIApiKey` lands here.
  'open_ai_api_key',
  'anthropic_api_key',
  'azure_api_key',
  'azure_openai_api_key',
  'azure_open_ai_api_key',
  'google_api_key',
  'gemini_api_key',
  'vertex_credentials',
  'cohere_api_key',
  'mistral_api_key',
  'groq_api_key',
  'together_api_key',
  'fireworks_api_key',
  'deepseek_api_key',
  'perplexity_api_key',
  'xai_api_key',
  'x_ai_api_key',
  'openrouter_api_key',
  'voyage_api_key',
  'huggingface_api_key',
  'hf_token',
  'replicate_api_token',
  'aws_secret_access_key',
  'aws_session_token',
]);

// A provider added later is covered without a code change: its `*_api_key` is a secret by default. Erring this
// way only costs an explicit `getSecret` call; erring the other way leaks a credential.
const SECRET_SUFFIXES = ['_api_key', '_api_token', '_secret_access_key', '_client_secret'];

/**
 * True for a key in the secret set under any spelling (`openaiApiKey`, `OpenAIApiKey`, `openai-api-key`),
 * also inside a namespace (`llm.openai_api_key`).
 *
 * @example
 * isSecretKey('OpenAIApiKey'); // true
 * isSecretKey('max_tokens'); // false
 */
export function isSecretKey(key: string): boolean {
  const normalized = toSnakeCase(key);
  const name = normalized.slice(normalized.lastIndexOf('.') + 1);
  return SECRET_KEYS.has(name) || SECRET_SUFFIXES.some((suffix) => name.endsWith(suffix));
}
