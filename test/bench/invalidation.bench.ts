import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { setConfig } from '../../db/runtime-config-queries';
import { publishInvalidation } from '../../src/reader/redis-transport';
import {
  monotonicMs,
  startReaderProcess,
  type ReaderChildConfig,
  type ReaderProcess,
} from '../helpers/reader-process';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

const READERS = 4;
const KEYS = 1_000;
/** TTL-only mode uses the seed's TTL. */
const TTL_ONLY_TTL_MS = 5_000;
/**
 * With push, the TTL is only the floor for a lost connection, so it is set as a deployment would and nothing
 * expires during the run. (With 5 s here too, 4 readers × 1,000 keys reloading every 5 s compete with the
 * writes, and that load, not the push, would be what the tail measures.)
 */
const PUSH_TTL_MS = 60_000;
/** Each reader re-reads every key this often (and an invalidated key at once); 0.4 % of the 5 s TTL. */
const POLL_MS = 20;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function log(line: string): void {
  process.stderr.write(`[invalidation bench] ${line}\n`);
}

/** Nearest-rank percentile of an ascending list. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const round2 = (value: number): number => Number(value.toFixed(2));

interface ModeResult {
  p50: number;
  p99: number;
  max: number;
  writeSeconds: number;
}

type ModeConfig = Omit<ReaderChildConfig, 'databaseUrl' | 'keys' | 'pollMs'>;

/**
 * One run: start the readers, let them cache every key, update each key once (one transaction per key, one
 * after the other), and measure, per key, commit → the moment the last reader returned the new value from
 * `get`. Timestamps come from CLOCK_MONOTONIC in every process (see monotonicMs): one clock for the whole
 * host, nanosecond resolution, immune to wall-clock steps. A commit is timed when the writer has the
 * COMMIT's answer, so a reader may see the value a fraction of a millisecond "before" it.
 */
async function measure(
  t: TestDatabase,
  mode: string,
  config: ModeConfig,
  round: number,
  publish?: (key: string) => Promise<unknown>,
): Promise<ModeResult> {
  const keys = Array.from({ length: KEYS }, (_unused, index) => `bench.key_${index}`);
  const expected = (index: number): string => `round-${round}-${index}`;
  const readers: ReaderProcess[] = [];
  try {
    log(`${mode}: starting ${READERS} reader processes`);
    const started = await Promise.all(
      Array.from({ length: READERS }, (_unused, index) =>
        startReaderProcess(
          {
            ...config,
            databaseUrl: t.url,
            keys,
            pollMs: POLL_MS,
            listenerName: `${config.listenerName ?? 'bench-reader'}-${index}`,
          },
          60_000,
        ),
      ),
    );
    readers.push(...started);

    const writeAll = async (
      value: (index: number) => string,
    ): Promise<{ commits: number[]; seconds: number }> => {
      const commits: number[] = [];
      const writeStarted = monotonicMs();
      for (const [index, key] of keys.entries()) {
        await setConfig(t.db, { key, userId: null, value: value(index), valueType: 'string' });
        commits.push(monotonicMs());
        if (publish) await publish(key);
      }
      return { commits, seconds: (monotonicMs() - writeStarted) / 1000 };
    };
    const waitUntilVisible = async (value: (index: number) => string): Promise<void> => {
      const deadline = Date.now() + config.ttlMs + 60_000;
      for (;;) {
        const missing = readers.reduce(
          (count, reader) =>
            count + keys.filter((key, index) => reader.latest(key)?.value !== value(index)).length,
          0,
        );
        if (missing === 0) return;
        if (Date.now() > deadline)
          throw new Error(`${mode}: ${missing} (reader, key) values never became visible`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    // A full unmeasured pass first: freshly started readers (module loading, cold JIT) lag for a second or two.
    const warmUp = (index: number): string => `warm-up-${round}-${index}`;
    log(`${mode}: warm-up, writing ${KEYS} keys`);
    await writeAll(warmUp);
    await waitUntilVisible(warmUp);

    log(`${mode}: writing ${KEYS} keys`);
    const { commits, seconds: writeSeconds } = await writeAll(expected);
    log(`${mode}: wrote in ${writeSeconds.toFixed(1)} s; waiting until every reader has every value`);
    await waitUntilVisible(expected);

    const firstSeen = readers.map((reader) => {
      const seen = new Map<string, number>();
      for (const line of reader.values) {
        const id = `${line.key}=${String(line.value)}`;
        if (!seen.has(id)) seen.set(id, line.t);
      }
      return seen;
    });
    const byWrite = keys.map((key, index) => {
      const visibleEverywhere = Math.max(
        ...firstSeen.map((seen) => seen.get(`${key}=${expected(index)}`) as number),
      );
      return visibleEverywhere - (commits[index] as number);
    });
    const tenths = Array.from({ length: 10 }, (_unused, tenth) =>
      Math.max(...byWrite.slice((tenth * KEYS) / 10, ((tenth + 1) * KEYS) / 10)).toFixed(0),
    );
    log(`${mode}: worst latency (ms) per tenth of the writes, in write order: ${tenths.join(' ')}`);
    const sorted = [...byWrite].sort((a, b) => a - b);
    const result = {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) as number,
      writeSeconds,
    };
    log(
      `${mode}: p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, max ${result.max.toFixed(2)} ms`,
    );
    return result;
  } finally {
    await Promise.all(readers.map((reader) => reader.stop()));
  }
}

/**
 * Write-to-visible latency across 4 reader processes: Postgres LISTEN/NOTIFY (the default), Redis pub/sub,
 * and TTL-only (push off, the seed's 5 s TTL), with the same 1,000 keys and the same readers.
 */
export default async function invalidationBench(): Promise<Record<string, number | string>> {
  const t = await createTestDatabase('bench_invalidation');
  const redis = new Redis(REDIS_URL, { connectTimeout: 5_000, maxRetriesPerRequest: 1 });
  const channel = `runtime_config_bench_${randomBytes(4).toString('hex')}`;
  try {
    await sql`
      insert into runtime_config (key, value, value_type)
      select 'bench.key_' || g, 'initial', 'string' from generate_series(0, ${KEYS - 1}) g
    `.execute(t.db);
    const postgres = await measure(
      t,
      'postgres',
      { transport: 'postgres', listenerName: 'bench-listener', ttlMs: PUSH_TTL_MS },
      1,
    );
    const redisResult = await measure(
      t,
      'redis',
      {
        transport: 'redis',
        redisUrl: REDIS_URL,
        channel,
        listenerName: 'bench-subscriber',
        ttlMs: PUSH_TTL_MS,
      },
      2,
      (key) => publishInvalidation(redis, { key, userId: null }, { channel }),
    );
    const ttlOnly = await measure(t, 'ttl-only', { transport: 'none', ttlMs: TTL_ONLY_TTL_MS }, 3);
    return {
      p50_ms: round2(postgres.p50),
      p99_ms: round2(postgres.p99),
      max_ms: round2(postgres.max),
      redis_p50_ms: round2(redisResult.p50),
      redis_p99_ms: round2(redisResult.p99),
      ttl_only_p50_ms: round2(ttlOnly.p50),
      ttl_only_p99_ms: round2(ttlOnly.p99),
      ttl_ms: TTL_ONLY_TTL_MS,
      push_ttl_ms: PUSH_TTL_MS,
      readers: READERS,
      keys: KEYS,
      poll_ms: POLL_MS,
      write_s: round2(postgres.writeSeconds),
    };
  } finally {
    redis.disconnect();
    await t.drop();
  }
}
