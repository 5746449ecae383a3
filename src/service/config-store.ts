import { sql, type Kysely } from 'kysely';
import { setConfig, type SetConfigResult } from '../../db/runtime-config-queries';
import type { Database, ValueType } from '../../db/schema';
import type { Invalidation } from '../reader/invalidation-transport';
import type { RuntimeConfigReader } from '../reader/runtime-config-reader';
import { ConfigValueError, serializeValue, type ConfigValue } from '../config-values/typed-value';
import { withTimeout } from '../reader/with-timeout';
import { KNOWN_GENERATION_FIELDS } from '../schemas/generation-params';
import type { SecretBox } from '../secrets/secret-box';
import { inferValueType, type ConfigWrite } from './config-write-body';
import type { RequestKey, RequestKeys } from './request-key';
import { ServiceError } from './service-error';

/** What the API shows instead of a secret's value: never the plaintext, never the ciphertext. */
export const SECRET_MASK = '********';

/** What the handlers of both paths need; built once per service. */
export interface ConfigStoreDeps {
  db: Kysely<Database>;
  reader: RuntimeConfigReader;
  secretBox: SecretBox;
  /**
   * Tells other processes about a committed write when the transport needs the writer to (Redis pub/sub).
   * Absent with Postgres LISTEN/NOTIFY, whose trigger announces every commit by itself.
   */
  publishInvalidation?: (invalidation: Invalidation) => Promise<unknown>;
  /** Bound on each statement a request runs. */
  queryTimeoutMs: number;
  /** How long a write waits for this process's own cache to hear of it (read-your-writes). */
  ownInvalidationTimeoutMs: number;
  /** Parses (and remembers) the keys of request URLs. */
  keys: RequestKeys;
}

export interface StoredConfig {
  value: ConfigValue;
  valueType: ValueType;
}

/** The reader refuses `get` for secrets with this error (by name: the class is the reader's own). */
function isSecretAccessError(error: unknown): boolean {
  return error instanceof Error && error.name === 'SecretAccessError';
}

/**
 * The effective value for a user (their own, else the global one) as the API may show it: a secret is
 * masked. Its presence is learnt through the reader's explicit `getSecret` (which also proves the stored
 * ciphertext still decrypts); the plaintext goes no further than this function.
 */
export async function readConfig(
  deps: ConfigStoreDeps,
  key: RequestKey,
  userId: string | undefined,
): Promise<StoredConfig | undefined> {
  const options = userId === undefined ? undefined : { userId };
  if (!key.secret) {
    try {
      // The normal form: the reader then finds its cache entry without normalizing again.
      const value = await deps.reader.get(key.normalized, options);
      return value === undefined ? undefined : { value, valueType: inferValueType(value) };
    } catch (error) {
      // A value stored as `secret` under a name outside the secret set.
      if (!isSecretAccessError(error)) throw error;
    }
  }
  const secret = await deps.reader.getSecret(key.normalized, options);
  return secret === undefined ? undefined : { value: SECRET_MASK, valueType: 'secret' };
}

export type GenerationField = (typeof KNOWN_GENERATION_FIELDS)[number];

/** Every known generation parameter with its effective value for the user, read at once; undefined where unset. */
export function readGenerationFields(
  deps: ConfigStoreDeps,
  userId: string | undefined,
): Promise<(readonly [GenerationField, StoredConfig | undefined])[]> {
  return Promise.all(
    KNOWN_GENERATION_FIELDS.map(
      async (field) => [field, await readConfig(deps, deps.keys.parse(field), userId)] as const,
    ),
  );
}

/**
 * Resolves once this process's reader has dropped its cached value of (key, user), or after `timeoutMs`, so
 * a client that writes and then reads through the same instance sees its write. Registered before the write:
 * the notification can arrive before the write call returns.
 */
function ownInvalidation(
  reader: RuntimeConfigReader,
  key: string,
  userId: string | null,
  timeoutMs: number,
): { heard: Promise<void>; cancel(): void } {
  let stop: () => void = () => undefined;
  const heard = new Promise<void>((resolve) => {
    const timer = setTimeout(() => stop(), timeoutMs);
    const unsubscribe = reader.onInvalidation((invalidation) => {
      if ('all' in invalidation || (invalidation.key === key && invalidation.userId === userId)) stop();
    });
    stop = () => {
      clearTimeout(timer);
      unsubscribe();
      resolve();
    };
  });
  return { heard, cancel: () => stop() };
}

export interface WriteOutcome extends SetConfigResult {
  /** What the API may show of the value: the mask for a secret. */
  shown: ConfigValue;
  storedType: ValueType;
}

/**
 * Upserts one value under its normalized key with `setConfig` (secrets encrypted there), after checking that
 * the value fits its type so a bad write is a 400 rather than a failed statement. Returns once the write is
 * committed and this process's cache has dropped the old value; at once when it changed nothing.
 */
export async function writeConfig(
  deps: ConfigStoreDeps,
  requestKey: RequestKey,
  userId: string | undefined,
  write: ConfigWrite,
): Promise<WriteOutcome> {
  const key = requestKey.normalized;
  const secret = write.valueType === 'secret' || requestKey.secret;
  if (secret && typeof write.value !== 'string') {
    throw new ServiceError(400, `config key "${key}" is a secret: its value must be a string`);
  }
  if (!secret) {
    try {
      serializeValue(write.value, write.valueType as Exclude<ValueType, 'secret'>, `config key "${key}"`);
    } catch (error) {
      if (error instanceof ConfigValueError) throw new ServiceError(400, error.message);
      throw error;
    }
  }
  const target = write.scope === 'user' ? (userId ?? null) : null;
  const waiting =
    deps.reader.status() === 'subscribed'
      ? ownInvalidation(deps.reader, key, target, deps.ownInvalidationTimeoutMs)
      : undefined;
  try {
    const result = await setConfig(
      deps.db,
      { key, userId: target, value: write.value, valueType: secret ? 'secret' : write.valueType },
      { secretBox: deps.secretBox, timeoutMs: deps.queryTimeoutMs },
    );
    // A write that changed nothing sends no notification (the trigger skips it): nothing to wait for.
    if (result.changed) {
      await deps.publishInvalidation?.({ key, userId: target });
      await waiting?.heard;
    }
    return {
      ...result,
      shown: secret ? SECRET_MASK : write.value,
      storedType: secret ? 'secret' : write.valueType,
    };
  } finally {
    waiting?.cancel();
  }
}

export interface ModelRow {
  provider: string;
  model_id: string;
  display_name: string;
  context_window: number;
  max_output_tokens: number;
  capabilities: string[];
  deprecated_on: string | null;
}

/** The whole catalogue, ordered by (provider, model_id); dates as `YYYY-MM-DD` whatever the server's zone. */
export async function listModels(deps: ConfigStoreDeps): Promise<ModelRow[]> {
  return withTimeout(
    deps.db
      .selectFrom('model_catalog')
      .select([
        'provider',
        'model_id',
        'display_name',
        'context_window',
        'max_output_tokens',
        'capabilities',
        sql<string | null>`deprecated_on::text`.as('deprecated_on'),
      ])
      .orderBy('provider')
      .orderBy('model_id')
      .execute(),
    deps.queryTimeoutMs,
    'reading the model catalogue from Postgres',
  );
}
