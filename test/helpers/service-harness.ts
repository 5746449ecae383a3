import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { createDatabase } from '../../db/create-database';
import type { Database } from '../../db/schema';
import { readEnv, type Env } from '../../src/config/env';
import type { UnifiedConfigOverride } from '../../src/flags/flag-decision';
import { createUnifiedConfigFlag, type UnifiedConfigFlag } from '../../src/flags/unified-config-flag';
import type { InvalidationTransport } from '../../src/reader/invalidation-transport';
import { createPostgresNotifyTransport } from '../../src/reader/postgres-notify-transport';
import { createRedisTransport, publishInvalidation } from '../../src/reader/redis-transport';
import { createRuntimeConfigReader, type RuntimeConfigReader } from '../../src/reader/runtime-config-reader';
import type { SecretBox } from '../../src/secrets/secret-box';
import {
  createConfigService,
  type ConfigService,
  type ConfigServiceDeps,
  type ConfigServiceOptions,
} from '../../src/service/config-service';
import { TEST_TOKENS, testApiTokens } from './service-tokens';

/** Every line a service logged, as written (JSON text), for assertions and leak scans. */
export interface LogCapture {
  readonly lines: string[];
  text(): string;
}

/** A pino logger at `trace` writing into memory: everything the service would log, nothing filtered out. */
export function captureLogs(): { logger: Logger; capture: LogCapture } {
  const lines: string[] = [];
  const logger = pino(
    { level: 'trace', name: 'config-service-test' },
    { write: (line: string) => lines.push(line) },
  );
  return { logger, capture: { lines, text: () => lines.join('') } };
}

export interface HarnessOptions {
  /** The test database's URL; the harness opens its own pool on it, like a separate process would. */
  databaseUrl: string;
  secretBox: SecretBox;
  /** The flag to evaluate in Unleash; default a name no Unleash defines (every user then gets the default). */
  flagName?: string;
  override?: UnifiedConfigOverride;
  /** Unleash base URL; default UNLEASH_URL. */
  unleashUrl?: string;
  /** Default: a fresh temporary directory, removed on close. */
  backupDir?: string;
  transport?: 'postgres' | 'redis' | 'none';
  /** Default one hour: in tests a value changes by push invalidation, never by expiry. */
  ttlMs?: number;
  /** Default `apiTokens`: every token of TEST_TOKENS (service-tokens.ts). */
  service?: Omit<ConfigServiceOptions, 'apiTokens'> & Partial<Pick<ConfigServiceOptions, 'apiTokens'>>;
  /** Wait for the flag's state before returning; default true when no override is given. */
  waitForFlag?: boolean;
}

export interface ServiceHarness {
  url: string;
  env: Env;
  db: Kysely<Database>;
  service: ConfigService;
  flag: UnifiedConfigFlag;
  reader: RuntimeConfigReader;
  registry: Registry;
  logs: LogCapture;
  /** Closes the service (drain), then the reader, the flag and the pool. */
  close(): Promise<void>;
}

/**
 * A real config service in this process: real Postgres (the given test database), real invalidation
 * transport, real unleash-client against the real Unleash, listening on a free port of 127.0.0.1.
 *
 * @example
 * const harness = await startServiceHarness({ databaseUrl: t.url, secretBox, flagName });
 * const response = await fetch(`${harness.url}/api/config/maxTokens`, { headers: { 'x-user-id': 'u1' } });
 * await harness.close();
 */
export async function startServiceHarness(options: HarnessOptions): Promise<ServiceHarness> {
  const env = readEnv();
  const { logger, capture } = captureLogs();
  const registry = new Registry();
  const db = createDatabase(options.databaseUrl, {
    applicationName: 'config-service-test',
    maxConnections: 5,
  });
  const kind = options.transport ?? 'postgres';
  let transport: InvalidationTransport | null = null;
  let publisher: Redis | undefined;
  let publish: ConfigServiceDeps['publishInvalidation'];
  if (kind === 'postgres') {
    transport = createPostgresNotifyTransport({
      connectionString: options.databaseUrl,
      applicationName: 'config-service-test-listener',
      logger,
    });
  } else if (kind === 'redis') {
    const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    transport = createRedisTransport({ url: redisUrl, logger });
    // With Redis the writer announces its writes (Postgres' trigger does it by itself).
    publisher = new Redis(redisUrl, { connectTimeout: 5_000, maxRetriesPerRequest: 1 });
    const redis = publisher;
    publish = (invalidation) => publishInvalidation(redis, invalidation);
  }
  const reader = createRuntimeConfigReader({
    db,
    transport,
    registry,
    secretBox: options.secretBox,
    ttlMs: options.ttlMs ?? 3_600_000,
    logger,
  });
  const ownBackupDir = options.backupDir === undefined;
  const backupDir = options.backupDir ?? mkdtempSync(path.join(os.tmpdir(), 'config-service-flag-'));
  const flag = createUnifiedConfigFlag({
    unleashUrl: options.unleashUrl ?? env.UNLEASH_URL,
    clientToken: env.UNLEASH_CLIENT_TOKEN,
    flagName: options.flagName ?? 'config-service-test-undefined-flag',
    override: options.override,
    backupDir,
    refreshIntervalMs: 1_000,
    timeoutMs: 2_000,
    sendUsageMetrics: false,
    registry,
    logger,
  });
  const deps: ConfigServiceDeps = {
    db,
    reader,
    flag,
    secretBox: options.secretBox,
    registry,
    logger,
    publishInvalidation: publish,
  };
  const service = createConfigService(deps, { apiTokens: testApiTokens(), ...options.service });
  const url = await service.listen({ host: '127.0.0.1', port: 0 });
  await service.whenStarted();
  if (options.waitForFlag ?? options.override === undefined) {
    if (!(await flag.whenReady(15_000))) throw new Error('the flag did not load any Unleash state in 15 s');
  }
  return {
    url,
    env,
    db,
    service,
    flag,
    reader,
    registry,
    logs: capture,
    close: async () => {
      await service.close();
      await reader.close();
      flag.close();
      await publisher?.quit();
      await db.destroy();
      if (ownBackupDir) rmSync(backupDir, { recursive: true, force: true });
    },
  };
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: unknown;
}

export interface CallOptions {
  userId?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  /** Bearer token to send; default the all-scopes test token, `null` sends no `Authorization` header. */
  token?: string | null;
}

/**
 * One HTTP call with an optional user, authenticated by a test token; the body text is kept (leak scans read
 * it) and parsed when JSON.
 *
 * @example
 * const { status, json } = await call(harness.url, 'GET', '/api/config/maxTokens', { userId: 'u1' });
 * await call(harness.url, 'GET', '/api/models', { token: TEST_TOKENS.read.token });
 */
export async function call(
  baseUrl: string,
  method: string,
  pathname: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const token = options.token === undefined ? TEST_TOKENS.all.token : options.token;
  const headers: Record<string, string> = {
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...options.headers,
  };
  if (options.userId !== undefined) headers['x-user-id'] = options.userId;
  let body: string | undefined;
  if (options.rawBody !== undefined || options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = options.rawBody ?? JSON.stringify(options.body);
  }
  const response = await fetch(new URL(pathname, baseUrl), {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/**
 * One HTTP call with headers given exactly as sent (a flat `[name, value, name, value, …]` list, repeats
 * kept): `fetch` folds a repeated header into one, and the service must see the repeat to refuse it.
 *
 * @example
 * await rawCall(url, 'GET', '/api/config/k', ['x-user-id', 'alice', 'x-user-id', 'bob']);
 */
export function rawCall(
  baseUrl: string,
  method: string,
  pathname: string,
  rawHeaders: string[],
  body?: string,
): Promise<CallResult> {
  const url = new URL(pathname, baseUrl);
  // Given as a list, headers replace Node's defaults, Host included (HTTP/1.1 requires it).
  const headers = ['host', url.host, ...rawHeaders];
  if (body !== undefined) headers.push('content-type', 'application/json');
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, timeout: 10_000 }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (typeof value === 'string') headers.set(name, value);
        }
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, headers, text, json });
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${method} ${pathname} timed out after 10 s`)));
    request.on('error', reject);
    request.end(body);
  });
}
