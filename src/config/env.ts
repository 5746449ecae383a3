import { z } from 'zod';
import { serviceApiTokensSchema } from './service-api-tokens';

const postgresUrl = z
  .string()
  .url()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');

/**
 * docker-compose passes `${NAME:-}` as an empty string when the host leaves a variable unset; an empty value
 * means "not set" for every optional variable below.
 */
const unsetIfEmpty = (value: unknown): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const optional = <T extends z.ZodType>(schema: T) => z.preprocess(unsetIfEmpty, schema.optional());

const withDefault = <T extends z.ZodType>(schema: T, fallback: z.input<T>) =>
  z.preprocess(unsetIfEmpty, schema.default(fallback as never));

/** `ENABLE_UNIFIED_CONFIG`'s spellings; `true`/`false` keep the seed's boolean form working. */
const UNIFIED_OVERRIDES: Readonly<Record<string, 'on' | 'off'>> = {
  on: 'on',
  true: 'on',
  off: 'off',
  false: 'off',
};

/**
 * Every environment variable the project reads, with its rules. `docker-compose.yml` is checked against
 * these names by a test, so a renamed variable cannot silently drift from the production stack.
 */
export const envSchema = z.object({
  DATABASE_URL: postgresUrl,
  UNLEASH_DATABASE_URL: postgresUrl,
  UNLEASH_URL: z.string().url(),
  UNLEASH_ADMIN_TOKEN: z.string().min(8, 'must be an Unleash admin API token'),
  UNLEASH_CLIENT_TOKEN: z.string().min(8, 'must be an Unleash backend (client) API token'),
  TEMPORAL_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port'),
  TEMPORAL_NAMESPACE: z.string().min(1),
  TEMPORAL_UI_URL: z.string().url(),
  ROLLOUT_TASK_QUEUE: z.string().min(1),
  /** host:port where the worker serves Temporal SDK metrics for Prometheus; unset = no metrics endpoint. */
  WORKER_METRICS_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'must be host:port')
    .optional(),

  // --- The config service (src/service) and its runtime config reader and flag (src/reader, src/flags). ---
  /** host:port the config service listens on (all interfaces in a container: `0.0.0.0:8080`). */
  CONFIG_SERVICE_ADDRESS: withDefault(
    z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port'),
    '127.0.0.1:8080',
  ),
  /** AES-256 key (base64 of 32 bytes) for secrets; required by the config service (src/secrets/secret-box.ts). */
  CONFIG_ENCRYPTION_KEY: optional(z.string()),
  /** Id written into new ciphertext; default `k1`. */
  CONFIG_ENCRYPTION_KEY_ID: optional(z.string()),
  /** Retired keys still needed to read old ciphertext: `id:base64,id:base64`. */
  CONFIG_ENCRYPTION_PREVIOUS_KEYS: optional(z.string()),
  /**
   * The operator's override of the flag: `off` (or `false`) sends everyone to the legacy path whatever Unleash
   * says (the kill switch); `on` (or `true`) sends everyone to the unified path; unset or empty follows Unleash
   * per user, and with no Unleash state known (never reached, no backup file) serves the legacy path.
   */
  ENABLE_UNIFIED_CONFIG: z.preprocess(
    (value) => {
      const text = unsetIfEmpty(value);
      return typeof text === 'string' ? (UNIFIED_OVERRIDES[text.trim().toLowerCase()] ?? text) : text;
    },
    z
      .enum(['on', 'off'], { error: 'must be on, off (or true, false), or empty to follow Unleash' })
      .optional(),
  ),
  /** The Unleash flag the service asks per user; the rollout plan's `flag` must name the same one. */
  UNIFIED_CONFIG_FLAG: withDefault(z.string().min(1), 'unified-config'),
  /** Where unleash-client keeps its backup of the last flag state it received (served while Unleash is down). */
  UNLEASH_BACKUP_DIR: optional(z.string()),
  /**
   * How often the service's unleash-client polls Unleash, in milliseconds: 1,000 (the default and the floor)
   * to 600,000. It bounds how long a rollback (the flag to 0 %) takes to reach every service; Unleash itself
   * serves a write to clients after its own revision check (once a second, not configurable), so polling
   * faster than that would gain nothing. Each poll sends the last ETag, so an unchanged flag costs a 304.
   */
  UNLEASH_REFRESH_INTERVAL_MS: withDefault(
    z.coerce
      .number({ error: 'must be a number of milliseconds, e.g. 1000' })
      .int('must be a whole number of milliseconds')
      .min(1_000, 'must be at least 1000 (ms); Unleash checks for changes once a second')
      .max(600_000, 'must be at most 600000 (ms, 10 minutes)'),
    1_000,
  ),
  /** Push invalidation for the reader's cache: Postgres LISTEN/NOTIFY (default), Redis pub/sub, or TTL only. */
  CONFIG_INVALIDATION: withDefault(z.enum(['postgres', 'redis', 'none']), 'postgres'),
  /** Needed when CONFIG_INVALIDATION is `redis`. */
  REDIS_URL: optional(
    z
      .string()
      .url()
      .refine((value) => /^rediss?:\/\//.test(value), 'must be a redis:// URL'),
  ),
  /** The reader's TTL: the bound on staleness while push invalidation is down. */
  CONFIG_CACHE_TTL_MS: withDefault(z.coerce.number().int().min(100).max(86_400_000), 30_000),
  /** Fraction (0–1) of unified-path requests the service fails with HTTP 500, to show that the gates catch it. */
  SERVICE_FAULT_RATE: withDefault(z.coerce.number().min(0).max(1), 0),
  /**
   * The config service's callers: `<name>:<scope>[+<scope>...]:<token>` entries separated by commas, scopes
   * `read`, `users`, `write:user`, `write:global`, `admin` (src/config/service-api-tokens.ts). Required by the
   * config service, which refuses to start without it.
   */
  SERVICE_API_TOKENS: optional(serviceApiTokensSchema),
});

export type Env = z.infer<typeof envSchema>;

/** Names of the variables in {@link envSchema}, for checks against deployment files. */
export const envNames = Object.keys(envSchema.shape) as (keyof Env)[];

/**
 * Parses the environment once at startup; a missing or malformed variable is a clear startup error.
 *
 * @example
 * const env = readEnv(process.env);
 * console.log(env.TEMPORAL_ADDRESS);
 */
export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid environment (see .env.example):\n${lines.join('\n')}`);
  }
  return result.data;
}
