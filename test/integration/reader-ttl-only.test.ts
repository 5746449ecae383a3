import { Registry } from 'prom-client';
import { setConfig } from '../../db/runtime-config-queries';
import { createRuntimeConfigReader, type RuntimeConfigReader } from '../../src/reader/runtime-config-reader';
import { eventually } from '../helpers/reader-process';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

describe('runtime config reader without a transport (TTL only)', () => {
  let t: TestDatabase;
  let reader: RuntimeConfigReader;
  let now = 0;

  beforeAll(async () => {
    t = await createTestDatabase('reader_ttl_only');
    reader = createRuntimeConfigReader({
      db: t.db,
      transport: null,
      registry: new Registry(),
      ttlMs: 5_000,
      ttlJitter: 0,
      // A hand-driven clock: expiry is tested without sleeping or timing assertions.
      clock: { now: () => now },
    });
    await reader.start();
  });

  afterAll(async () => {
    await reader?.close();
    await t?.drop();
  });

  it('reports that it runs on the TTL alone', () => {
    expect(reader.status()).toBe('ttl-only');
  });

  it('serves the cached value until the TTL passes, then reloads', async () => {
    await setConfig(t.db, { key: 'temperature', userId: null, value: 0.1, valueType: 'number' });
    expect(await reader.get('temperature')).toBe(0.1);
    await setConfig(t.db, { key: 'temperature', userId: null, value: 0.8, valueType: 'number' });

    now += 4_999;
    expect(await reader.get('temperature')).toBe(0.1);
    now += 1;
    expect(await reader.get('temperature')).toBe(0.8);
  });

  it('caches "not set" too, and expires that as well', async () => {
    expect(await reader.get('max_tokens', { userId: 'frank' })).toBeUndefined();
    await setConfig(t.db, { key: 'maxTokens', userId: 'frank', value: 64, valueType: 'number' });
    expect(await reader.get('max_tokens', { userId: 'frank' })).toBeUndefined();
    now += 5_000;
    expect(await reader.get('max_tokens', { userId: 'frank' })).toBe(64);
  });

  it('rejects a key with no name, without querying', async () => {
    await expect(reader.get('--')).rejects.toThrow(/has no name once normalized/);
  });

  it('expires on its own clock too (a short TTL, waited for with a bounded poll)', async () => {
    const ownClockReader = createRuntimeConfigReader({
      db: t.db,
      transport: null,
      registry: new Registry(),
      ttlMs: 200,
    });
    try {
      await setConfig(t.db, { key: 'seed', userId: null, value: 1, valueType: 'number' });
      expect(await ownClockReader.get('seed')).toBe(1);
      await setConfig(t.db, { key: 'seed', userId: null, value: 2, valueType: 'number' });
      await eventually(async () => (await ownClockReader.get('seed')) === 2, 'the TTL expires');
    } finally {
      await ownClockReader.close();
    }
  });
});
