import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { setConfig } from '../../db/runtime-config-queries';
import type { Invalidation } from '../../src/reader/invalidation-transport';
import { createRedisTransport, publishInvalidation } from '../../src/reader/redis-transport';
import { createRuntimeConfigReader, type RuntimeConfigReader } from '../../src/reader/runtime-config-reader';
import { eventually, startReaderProcess, type ReaderProcess } from '../helpers/reader-process';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const HOUR_MS = 3_600_000;

function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** `CLIENT LIST` lines are `id=7 addr=... name=... ...`; returns the ids of connections with this name. */
async function clientIdsNamed(redis: Redis, name: string): Promise<string[]> {
  const list = String(await redis.client('LIST'));
  return list
    .split('\n')
    .filter((line) => line.split(' ').includes(`name=${name}`))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
}

describe('runtime config reader on Redis pub/sub', () => {
  let t: TestDatabase;
  let writer: Redis;
  let reader: RuntimeConfigReader;
  let registry: Registry;
  let child: ReaderProcess | undefined;
  const channel = uniqueName('runtime_config_test');
  const subscriberName = uniqueName('reader-subscriber');
  const heard: Invalidation[] = [];

  /** The writer's side: commit, then publish. */
  async function write(
    key: string,
    value: number,
    userId: string | null = null,
    on = channel,
  ): Promise<number> {
    await setConfig(t.db, { key, userId, value, valueType: 'number' });
    return publishInvalidation(writer, { key, userId }, { channel: on });
  }

  beforeAll(async () => {
    t = await createTestDatabase('reader_redis');
    writer = new Redis(REDIS_URL, { connectTimeout: 5_000, maxRetriesPerRequest: 1 });
    registry = new Registry();
    reader = createRuntimeConfigReader({
      db: t.db,
      registry,
      ttlMs: HOUR_MS,
      transport: createRedisTransport({
        url: REDIS_URL,
        channel,
        connectionName: subscriberName,
        backoff: { initialMs: 1_500, maxMs: 1_500 },
      }),
    });
    reader.onInvalidation((invalidation) => heard.push(invalidation));
    await reader.start();
  });

  afterAll(async () => {
    await child?.stop();
    await reader?.close();
    writer?.disconnect();
    await t?.drop();
  });

  it('sees a published change in this process', async () => {
    await write('seed', 1);
    expect(await reader.get('seed')).toBe(1);
    expect(await write('seed', 2)).toBeGreaterThanOrEqual(1);
    await eventually(async () => (await reader.get('seed')) === 2, 'seed = 2 is pushed');
    expect(heard).toContainEqual({ key: 'seed', userId: null });
  });

  it('normalizes the key a writer publishes', async () => {
    await write('maxTokens', 10, 'erin');
    expect(await reader.get('max_tokens', { userId: 'erin' })).toBe(10);
    await write('MaxTokens', 20, 'erin');
    await eventually(async () => (await reader.get('maxTokens', { userId: 'erin' })) === 20, 'erin reads 20');
  });

  it('is seen by a reader in another process', async () => {
    // A channel of its own, so the subscriber counts in the CLIENT KILL test below are this process's alone.
    const childChannel = uniqueName('runtime_config_test_child');
    await write('timeout_ms', 1_000);
    child = await startReaderProcess({
      databaseUrl: t.url,
      transport: 'redis',
      redisUrl: REDIS_URL,
      channel: childChannel,
      listenerName: uniqueName('reader-child'),
      ttlMs: HOUR_MS,
      keys: ['timeout_ms'],
      pollMs: 50,
    });
    await child.waitForValue('timeout_ms', 1_000);
    expect(await write('timeoutMs', 2_500, null, childChannel)).toBe(1);
    await child.waitForValue('timeout_ms', 2_500);
  });

  it('resubscribes after CLIENT KILL and drops what it may have missed', async () => {
    const heardBefore = heard.length;
    await write('retry_budget', 1);
    await eventually(
      () => heard.slice(heardBefore).some((h) => 'key' in h && h.key === 'retry_budget'),
      'the write of retry_budget = 1 is announced',
    );
    expect(await reader.get('retry_budget')).toBe(1);

    const ids = await clientIdsNamed(writer, subscriberName);
    expect(ids).toHaveLength(1);
    await writer.client('KILL', 'ID', ids[0] as string);
    await eventually(() => reader.status() === 'disconnected', 'the reader notices the lost connection');

    // Published while nobody is subscribed: Redis drops it (0 receivers on this test's channel).
    expect(await write('retry_budget', 2)).toBe(0);
    expect(reader.status()).toBe('disconnected');
    expect(await reader.get('retry_budget')).toBe(1); // Within the TTL while disconnected.

    await eventually(() => reader.status() === 'subscribed', 'the reader resubscribes');
    expect(await reader.get('retry_budget')).toBe(2);

    await write('retry_budget', 3);
    await eventually(
      async () => (await reader.get('retry_budget')) === 3,
      'push works again after the reconnect',
    );
    expect(await registry.getSingleMetricAsString('config_invalidation_resubscribes_total')).toMatch(
      /\{transport="redis"\} 1$/m,
    );
    expect(await clientIdsNamed(writer, subscriberName)).toHaveLength(1);
  });
});

describe('a reader whose Redis subscriber cannot connect', () => {
  it('fails start naming the server and the cause, and closes cleanly while retrying', async () => {
    const t = await createTestDatabase('reader_no_redis');
    const reader = createRuntimeConfigReader({
      db: t.db,
      registry: new Registry(),
      ttlMs: 1_000,
      transport: createRedisTransport({ url: 'redis://127.0.0.1:1', backoff: { initialMs: 50, maxMs: 200 } }),
    });
    try {
      await expect(reader.start({ timeoutMs: 500 })).rejects.toThrow(
        /subscribing the redis invalidation transport timed out after 500 ms \(last error: connecting the Redis subscriber to 127\.0\.0\.1:1 failed: .*ECONNREFUSED/,
      );
      expect(await reader.get('anything')).toBeUndefined();
    } finally {
      await reader.close();
      await t.drop();
    }
  });
});
