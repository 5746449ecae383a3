import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { Registry } from 'prom-client';
import { setConfig } from '../../db/runtime-config-queries';
import type { Database } from '../../db/schema';
import { toSnakeCase } from '../../src/naming/to-snake-case';
import { createPostgresNotifyTransport } from '../../src/reader/postgres-notify-transport';
import { createRuntimeConfigReader, type RuntimeConfigReader } from '../../src/reader/runtime-config-reader';
import { ConfigValueError } from '../../src/config-values/typed-value';
import type { Invalidation } from '../../src/reader/invalidation-transport';
import { createSecretBox } from '../../src/secrets/secret-box';
import { eventually, monotonicMs, startReaderProcess, type ReaderProcess } from '../helpers/reader-process';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

const HOUR_MS = 3_600_000;
const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

describe('runtime config reader on Postgres LISTEN/NOTIFY', () => {
  let t: TestDatabase;
  let registry: Registry;
  let reader: RuntimeConfigReader;
  const listenerName = uniqueName('reader-listener');
  const heard: Invalidation[] = [];

  beforeAll(async () => {
    t = await createTestDatabase('reader_postgres');
    registry = new Registry();
    reader = createRuntimeConfigReader({
      db: t.db,
      registry,
      secretBox,
      // An hour: every fresh value in these tests arrived by push (or by the resubscribe refresh), not by TTL.
      ttlMs: HOUR_MS,
      transport: createPostgresNotifyTransport({
        connectionString: t.url,
        applicationName: listenerName,
        // Long enough that the test can write while the listener is certainly down.
        backoff: { initialMs: 1_500, maxMs: 1_500 },
      }),
    });
    reader.onInvalidation((invalidation) => heard.push(invalidation));
    await reader.start();
  });

  afterAll(async () => {
    await reader?.close();
    await t?.drop();
  });

  it('is subscribed after start', () => {
    expect(reader.status()).toBe('subscribed');
  });

  it('serves a cached value until a write, then the new value by push', async () => {
    const announced = (from: number) => () =>
      heard.slice(from).some((h) => 'key' in h && h.key === 'temperature' && h.userId === null);
    const firstWrite = heard.length;
    await setConfig(t.db, { key: 'temperature', userId: null, value: 0.2, valueType: 'number' });
    await eventually(announced(firstWrite), 'the first write is announced');
    expect(await reader.get('temperature')).toBe(0.2);
    // Cached for an hour from here: only an invalidation can make the next value visible.
    const secondWrite = heard.length;
    await setConfig(t.db, { key: 'temperature', userId: null, value: 0.9, valueType: 'number' });
    await eventually(async () => (await reader.get('temperature')) === 0.9, 'temperature = 0.9 is pushed');
    await eventually(announced(secondWrite), 'the second write is announced');
  });

  it("prefers the user's value, falls back to the global one, and invalidates per user", async () => {
    await setConfig(t.db, { key: 'maxTokens', userId: null, value: 256, valueType: 'number' });
    await setConfig(t.db, { key: 'max_tokens', userId: 'alice', value: 1024, valueType: 'number' });
    await eventually(
      async () => (await reader.get('max_tokens', { userId: 'alice' })) === 1024,
      'alice reads 1024',
    );
    expect(await reader.get('maxTokens', { userId: 'bob' })).toBe(256);
    expect(await reader.get('max_tokens')).toBe(256);

    await setConfig(t.db, { key: 'max_tokens', userId: 'bob', value: 2048, valueType: 'number' });
    await eventually(
      async () => (await reader.get('max_tokens', { userId: 'bob' })) === 2048,
      'bob reads 2048',
    );
    expect(await reader.get('max_tokens', { userId: 'alice' })).toBe(1024);

    await t.db
      .deleteFrom('runtime_config')
      .where('key', '=', 'max_tokens')
      .where('user_id', '=', 'alice')
      .execute();
    await eventually(
      async () => (await reader.get('max_tokens', { userId: 'alice' })) === 256,
      'alice falls back',
    );

    await setConfig(t.db, { key: 'max_tokens', userId: null, value: 300, valueType: 'number' });
    await eventually(
      async () => (await reader.get('max_tokens', { userId: 'alice' })) === 300,
      'global reaches alice',
    );
    expect(await reader.get('max_tokens', { userId: 'bob' })).toBe(2048);
  });

  it('finds legacy camelCase rows by their normalized key, newest duplicate first', async () => {
    // Rows as they exist before the key migration: several spellings of one key, written before migration
    // 004's trigger normalized writes (its bypass setting lets us create them, as a restore of a backup does).
    const insertLegacyRows = (rows: { key: string; value: string; updated_at: string }[]) =>
      t.db.transaction().execute(async (trx) => {
        await sql`select set_config('rollout.bypass_key_normalization', 'on', true)`.execute(trx);
        await trx
          .insertInto('runtime_config')
          .values(rows.map((row) => ({ ...row, user_id: null, value_type: 'number' as const })))
          .execute();
      });
    await insertLegacyRows([
      { key: 'topP', value: '0.5', updated_at: '2024-01-02T00:00:00Z' },
      { key: 'top_p', value: '0.1', updated_at: '2024-01-01T00:00:00Z' },
      { key: 'TopP', value: '0.3', updated_at: '2023-12-31T00:00:00Z' },
    ]);
    await eventually(async () => (await reader.get('top_p')) === 0.5, 'the newest legacy row wins');
    expect(await reader.get('topP')).toBe(0.5);
    expect(await reader.get('top-p')).toBe(0.5);

    // Same updated_at: the highest id wins.
    await insertLegacyRows([
      { key: 'frequencyPenalty', value: '0.1', updated_at: '2024-01-01T00:00:00Z' },
      { key: 'frequency_penalty', value: '0.2', updated_at: '2024-01-01T00:00:00Z' },
    ]);
    await eventually(async () => (await reader.get('frequencyPenalty')) === 0.2, 'the highest id wins a tie');

    // The writer updates the row readers see, in place, instead of adding another duplicate.
    const count = async (): Promise<number> =>
      (
        await t.db
          .selectFrom('runtime_config')
          .select(sql<number>`count(*)::int`.as('n'))
          .executeTakeFirstOrThrow()
      ).n;
    const before = await count();
    const result = await setConfig(t.db, { key: 'top_p', userId: null, value: 0.7, valueType: 'number' });
    expect(result.created).toBe(false);
    expect(await count()).toBe(before);
    const updated = await t.db
      .selectFrom('runtime_config')
      .selectAll()
      .where('id', '=', result.id)
      .executeTakeFirstOrThrow();
    expect(updated.value).toBe('0.7');
    expect(toSnakeCase(updated.key)).toBe('top_p');
    await eventually(async () => (await reader.get('top_p')) === 0.7, 'the update is read');
  });

  it('invalidates both keys when an update renames a key, stays silent on a pure rename, and drops everything on truncate', async () => {
    await setConfig(t.db, { key: 'stream_mode', userId: null, value: 'sse', valueType: 'string' });
    await eventually(async () => (await reader.get('stream_mode')) === 'sse', 'stream_mode is read');
    expect(await reader.get('streaming')).toBeUndefined();
    await t.db
      .updateTable('runtime_config')
      .set({ key: 'streaming' })
      .where('key', '=', 'stream_mode')
      .execute();
    await eventually(async () => (await reader.get('streaming')) === 'sse', 'the new key is found');
    await eventually(async () => (await reader.get('stream_mode')) === undefined, 'the old key is gone');

    // The key migration's rename (same normalized key, same value) changes nothing a reader sees: no message.
    // Done as the migration does it, past migration 004's write trigger, on a legacy row made the same way.
    const bypassingWriteTrigger = (statement: (trx: Kysely<Database>) => Promise<unknown>) =>
      t.db.transaction().execute(async (trx) => {
        await sql`select set_config('rollout.bypass_key_normalization', 'on', true)`.execute(trx);
        await statement(trx);
      });
    await bypassingWriteTrigger((trx) =>
      trx
        .insertInto('runtime_config')
        .values({ key: 'legacyFlag', user_id: null, value: 'on', value_type: 'string' })
        .execute(),
    );
    await eventually(
      () => heard.some((h) => 'key' in h && h.key === 'legacy_flag'),
      'the legacy row insert is announced',
    );
    const heardBefore = heard.length;
    await bypassingWriteTrigger((trx) =>
      trx.updateTable('runtime_config').set({ key: 'legacy_flag' }).where('key', '=', 'legacyFlag').execute(),
    );
    expect(
      await t.db.selectFrom('runtime_config').select('key').where('key', '=', 'legacy_flag').execute(),
    ).toHaveLength(1);
    await setConfig(t.db, { key: 'marker', userId: null, value: 'after-rename', valueType: 'string' });
    await eventually(
      () => heard.slice(heardBefore).some((h) => 'key' in h && h.key === 'marker'),
      'the marker invalidation arrives',
    );
    expect(heard.slice(heardBefore)).toEqual([{ key: 'marker', userId: null }]);

    await sql`truncate runtime_config`.execute(t.db);
    await eventually(async () => (await reader.get('streaming')) === undefined, 'truncate drops everything');
    expect(heard.at(-1)).toEqual({ all: true });
  });

  it('parses every value type and reports a malformed value as an error naming the key', async () => {
    await setConfig(t.db, { key: 'model', userId: null, value: 'gpt-4o', valueType: 'string' });
    await setConfig(t.db, { key: 'stream', userId: null, value: true, valueType: 'boolean' });
    await setConfig(t.db, { key: 'stopSequences', userId: null, value: ['###', 'END'], valueType: 'json' });
    await t.db
      .insertInto('runtime_config')
      .values({ key: 'topK', user_id: null, value: 'forty', value_type: 'number' })
      .execute();
    await eventually(async () => (await reader.get('model')) === 'gpt-4o', 'string');
    expect(await reader.get('stream')).toBe(true);
    expect(await reader.get('stop_sequences')).toEqual(['###', 'END']);
    await expect(reader.get('top_k')).rejects.toThrow(ConfigValueError);
    await expect(reader.get('topK')).rejects.toThrow(
      /config key "top_k" \(global value, row \d+\) is not a finite number/,
    );
    await expect(reader.get('topK')).rejects.not.toThrow(/forty/);
    expect(await reader.get('never_set')).toBeUndefined();
    await setConfig(t.db, { key: 'top_k', userId: null, value: 40, valueType: 'number' });
    await eventually(async () => (await reader.get('top_k').catch(() => 'error')) === 40, 'the fixed value');
  });

  it('never returns a secret from get, decrypts it with getSecret, and stores only ciphertext', async () => {
    const plaintext = `sk-test-${randomBytes(8).toString('hex')}`;
    await setConfig(
      t.db,
      { key: 'openaiApiKey', userId: null, value: plaintext, valueType: 'string' },
      { secretBox },
    );
    const row = await t.db
      .selectFrom('runtime_config')
      .selectAll()
      .where('key', '=', 'openai_api_key')
      .executeTakeFirstOrThrow();
    expect(row.value_type).toBe('secret');
    expect(row.value).not.toContain(plaintext);
    expect(row.value).toMatch(/^v1:k1:/);

    await expect(reader.get('openai_api_key')).rejects.toThrow(/is a secret: read it with getSecret/);
    await expect(reader.get('OpenAIApiKey')).rejects.toThrow(/secret/);
    expect(await reader.getSecret('openaiApiKey')).toBe(plaintext);
    await setConfig(t.db, { key: 'plain_setting', userId: null, value: 1, valueType: 'number' });
    await expect(reader.getSecret('plainSetting')).rejects.toThrow(/not a secret: read it with get/);
    expect(await reader.getSecret('anthropic_api_key')).toBeUndefined();

    // A legacy plaintext row of a secret key is still never handed out by get, and getSecret does not echo it.
    await t.db
      .insertInto('runtime_config')
      .values({ key: 'mistralApiKey', user_id: null, value: plaintext, value_type: 'string' })
      .execute();
    await expect(reader.get('mistral_api_key')).rejects.toThrow(/secret/);
    const error = await reader.getSecret('mistral_api_key').catch((caught: unknown) => caught as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/mistral_api_key/);
    expect((error as Error).message).not.toContain(plaintext);

    // A secret written with another key: the error names the key id and row, never the plaintext.
    const otherBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });
    await setConfig(
      t.db,
      { key: 'cohere_api_key', userId: null, value: plaintext, valueType: 'secret' },
      {
        secretBox: otherBox,
      },
    );
    const wrongKey = await eventually(async () => {
      const caught = await reader.getSecret('cohere_api_key').catch((e: unknown) => e as Error);
      return caught instanceof Error && /could not be decrypted with key id "k1"/.test(caught.message);
    }, 'the wrong-key error');
    expect(wrongKey).toBeUndefined();

    await expect(
      setConfig(t.db, { key: 'geminiApiKey', userId: null, value: plaintext, valueType: 'string' }),
    ).rejects.toThrow(/gemini_api_key is a secret and setConfig was given no secret box/);
  });

  it('serializes concurrent first writes of one key into one row', async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_unused, index) =>
        setConfig(t.db, {
          key: index % 2 ? 'presencePenalty' : 'presence_penalty',
          userId: 'carol',
          value: index,
          valueType: 'number',
        }),
      ),
    );
    const rows = await t.db
      .selectFrom('runtime_config')
      .selectAll()
      .where(sql<string>`to_snake_case(key)`, '=', 'presence_penalty')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.key).toBe('presence_penalty');
  });

  it('bounds a write that waits on its group lock, and names the key but not the value', async () => {
    let markLocked!: () => void;
    let release!: () => void;
    const locked = new Promise<void>((resolve) => (markLocked = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const holder = t.db.transaction().execute(async (trx) => {
      const lockName = JSON.stringify(['lock_probe', null]);
      await sql`select pg_advisory_xact_lock(hashtextextended(${lockName}, 0))`.execute(trx);
      markLocked();
      await released;
    });
    try {
      await locked;
      const error = await setConfig(
        t.db,
        { key: 'lockProbe', userId: null, value: 'value-not-in-errors', valueType: 'string' },
        { timeoutMs: 200 },
      ).catch((caught: unknown) => caught as Error);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(
        /^setConfig lock_probe \(global value\) failed: .*statement timeout/,
      );
      expect((error as Error).message).not.toContain('value-not-in-errors');
    } finally {
      release();
      await holder;
    }
  });

  it('exports hit, miss, load and invalidation metrics without key or user labels', async () => {
    await reader.get('temperature');
    const text = await registry.metrics();
    expect(text).toMatch(/^config_cache_hits_total [1-9]\d*$/m);
    expect(text).toMatch(/^config_cache_misses_total [1-9]\d*$/m);
    expect(text).toMatch(/^config_load_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^config_invalidations_total\{transport="postgres"\} [1-9]\d*$/m);
    expect(text).not.toMatch(/alice|temperature|user_?id|key=/);
    expect(() => createRuntimeConfigReader({ db: t.db, registry, transport: null, ttlMs: 1_000 })).toThrow(
      /already registered/,
    );
  });

  it('resubscribes after its listener connection is terminated and drops what it may have missed', async () => {
    const heardBefore = heard.length;
    await setConfig(t.db, { key: 'retry_budget', userId: null, value: 1, valueType: 'number' });
    // Wait for the write's own notification first, so it cannot arrive after the read below and drop the entry.
    await eventually(
      () => heard.slice(heardBefore).some((h) => 'key' in h && h.key === 'retry_budget'),
      'the write of retry_budget = 1 is announced',
    );
    expect(await reader.get('retry_budget')).toBe(1);

    const terminated = await sql<{ terminated: boolean }>`
      select pg_terminate_backend(pid) as terminated from pg_stat_activity where application_name = ${listenerName}
    `.execute(t.db);
    expect(terminated.rows).toEqual([{ terminated: true }]);
    await eventually(() => reader.status() === 'disconnected', 'the reader notices the lost connection');

    // Written while nobody listens: this NOTIFY is lost for good.
    await setConfig(t.db, { key: 'retry_budget', userId: null, value: 2, valueType: 'number' });
    const listeners = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity where application_name = ${listenerName}
    `.execute(t.db);
    expect(listeners.rows[0]?.n).toBe(0);
    expect(reader.status()).toBe('disconnected');
    // Still within the (hour-long) TTL, so the old value is what a reader may serve while disconnected.
    expect(await reader.get('retry_budget')).toBe(1);

    await eventually(() => reader.status() === 'subscribed', 'the reader resubscribes');
    // The first read after the resubscribe is already fresh.
    expect(await reader.get('retry_budget')).toBe(2);

    await setConfig(t.db, { key: 'retry_budget', userId: null, value: 3, valueType: 'number' });
    await eventually(
      async () => (await reader.get('retry_budget')) === 3,
      'push works again after the reconnect',
    );
    expect(await registry.getSingleMetricAsString('config_invalidation_resubscribes_total')).toMatch(
      /\{transport="postgres"\} 1$/m,
    );
  });
});

describe('a reader in another process, on Postgres LISTEN/NOTIFY', () => {
  let t: TestDatabase;
  let child: ReaderProcess | undefined;

  beforeAll(async () => {
    t = await createTestDatabase('reader_postgres_child');
  });

  afterAll(async () => {
    await child?.stop();
    await t?.drop();
  });

  // A TTL short enough that a reader which missed the push still sees the update inside the test: a lost
  // notification then fails as a measured delay, not as a timeout.
  const TTL_MS = 20_000;
  // The push must beat the TTL by far: an entry lives at least 90% of the TTL (its jitter), so a reader that
  // only expires entries cannot report the update this early.
  const WELL_BEFORE_TTL_MS = TTL_MS / 5;

  it('sees an update made here well before its TTL: within a fifth of it, measured on the shared clock', async () => {
    await setConfig(t.db, { key: 'maxTokens', userId: null, value: 100, valueType: 'number' });
    await setConfig(t.db, { key: 'max_tokens', userId: 'dave', value: 150, valueType: 'number' });
    child = await startReaderProcess({
      databaseUrl: t.url,
      transport: 'postgres',
      listenerName: uniqueName('reader-child'),
      ttlMs: TTL_MS,
      keys: ['max_tokens', 'temperature'],
      userId: 'dave',
      pollMs: 50,
    });
    const reader = child;
    await reader.waitForValue('max_tokens', 150);
    await reader.waitForValue('temperature', undefined);

    // Both writes land right after the child cached the old values, so only the push can show them early.
    const writeStarted = monotonicMs();
    await setConfig(t.db, { key: 'max_tokens', userId: 'dave', value: 175, valueType: 'number' });
    await setConfig(t.db, { key: 'temperature', userId: null, value: 0.3, valueType: 'number' });
    // Waits past the TTL, so a reader without push is measured too instead of timing out.
    await reader.waitForValue('max_tokens', 175, TTL_MS + 10_000);
    await reader.waitForValue('temperature', 0.3, TTL_MS + 10_000);

    /** How long after the writes began the child reported `value` for `key`, on the shared monotonic clock. */
    const msUntilSeen = (key: string, value: number): number => {
      const seen = reader.values.find((line) => line.key === key && line.value === value);
      if (!seen) throw new Error(`no value line for ${key} = ${value}`);
      return seen.t - writeStarted;
    };
    expect(msUntilSeen('max_tokens', 175)).toBeLessThan(WELL_BEFORE_TTL_MS);
    expect(msUntilSeen('temperature', 0.3)).toBeLessThan(WELL_BEFORE_TTL_MS);
  });
});

describe('a reader whose invalidation transport cannot connect', () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase('reader_no_listener');
  });

  afterAll(async () => {
    await t?.drop();
  });

  it('fails start naming the server and the cause, keeps retrying, and still serves reads on the TTL', async () => {
    const unreachable = new URL(t.url);
    unreachable.port = '1';
    unreachable.password = 'not-to-be-shown';
    const reader = createRuntimeConfigReader({
      db: t.db,
      registry: new Registry(),
      ttlMs: 1_000,
      transport: createPostgresNotifyTransport({
        connectionString: unreachable.toString(),
        backoff: { initialMs: 50, maxMs: 200 },
      }),
    });
    try {
      const error = await reader.start({ timeoutMs: 500 }).catch((caught: unknown) => caught as Error);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(
        /subscribing the postgres invalidation transport timed out after 500 ms \(last error: connecting the config listener to Postgres at 127\.0\.0\.1:1\/\w+ failed: .*ECONNREFUSED.*\); reads fall back to the 1000 ms TTL/,
      );
      expect((error as Error).message).not.toContain('not-to-be-shown');
      expect(reader.status()).toBe('disconnected');
      await setConfig(t.db, { key: 'seed', userId: null, value: 7, valueType: 'number' });
      expect(await reader.get('seed')).toBe(7);
    } finally {
      await reader.close();
    }
    expect(reader.status()).toBe('closed');
  });
});
