import { z } from 'zod';

const postgresUrl = z
  .string()
  .url()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');

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
