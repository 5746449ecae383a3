import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { createPostgresNotifyTransport } from '../../src/reader/postgres-notify-transport';
import { createRuntimeConfigReader } from '../../src/reader/runtime-config-reader';
import { createTestDatabase } from '../helpers/test-database';

const KEYS = 1_000;
// Power of two, so the loop picks its key with a mask: the index arithmetic costs the same in both loops.
const SEQUENCE_LENGTH = 1 << 16;
const OPS_PER_ROUND = 2_000_000;
const ROUNDS = 7;

function log(line: string): void {
  process.stderr.write(`[reader bench] ${line}\n`);
}

/** A fixed pseudo-random order (LCG), the same for the reader and the Map. */
function keySequence(keys: readonly string[]): string[] {
  let state = 12_345;
  return Array.from({ length: SEQUENCE_LENGTH }, () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return keys[state % keys.length] as string;
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * Cached `reader.get` against a bare `Map.get` of the same keys, both awaited in the same loop (a `get` is
 * async, so the baseline pays the same microtask per call). Also reports a synchronous Map loop, so the cost
 * of `await` itself is visible. Rounds alternate between the loops; the ratio is the median of the per-round ratios.
 */
export default async function readerBench(): Promise<Record<string, number | string>> {
  const t = await createTestDatabase('bench_reader');
  const registry = new Registry();
  const reader = createRuntimeConfigReader({
    db: t.db,
    registry,
    ttlMs: 10 * 60_000,
    transport: createPostgresNotifyTransport({ connectionString: t.url, applicationName: 'reader-bench' }),
  });
  try {
    await sql`
      insert into runtime_config (key, value, value_type)
      select 'llm.param_' || g, (g * 0.5)::text, 'number' from generate_series(0, ${KEYS - 1}) g
    `.execute(t.db);
    const keys = Array.from({ length: KEYS }, (_unused, index) => `llm.param_${index}`);
    const sequence = keySequence(keys);
    const map = new Map<string, number>(keys.map((key, index) => [key, index * 0.5]));
    await reader.start();
    for (const key of keys) {
      if ((await reader.get(key)) !== map.get(key)) throw new Error(`reader and Map disagree on ${key}`);
    }
    const mask = SEQUENCE_LENGTH - 1;

    const readerLoop = async (ops: number): Promise<number> => {
      let found = 0;
      for (let i = 0; i < ops; i++)
        if ((await reader.get(sequence[i & mask] as string)) !== undefined) found++;
      return found;
    };
    const mapLoop = async (ops: number): Promise<number> => {
      let found = 0;
      for (let i = 0; i < ops; i++) if ((await map.get(sequence[i & mask] as string)) !== undefined) found++;
      return found;
    };
    const syncMapLoop = (ops: number): number => {
      let found = 0;
      for (let i = 0; i < ops; i++) if (map.get(sequence[i & mask] as string) !== undefined) found++;
      return found;
    };
    const opsPerSecond = async (loop: (ops: number) => number | Promise<number>): Promise<number> => {
      const started = performance.now();
      const found = await loop(OPS_PER_ROUND);
      const seconds = (performance.now() - started) / 1000;
      if (found !== OPS_PER_ROUND) throw new Error(`a lookup missed (${found} of ${OPS_PER_ROUND})`);
      return OPS_PER_ROUND / seconds;
    };

    log('warming up');
    for (let i = 0; i < 2; i++) {
      await opsPerSecond(readerLoop);
      await opsPerSecond(mapLoop);
      await opsPerSecond(syncMapLoop);
    }
    const readerRounds: number[] = [];
    const mapRounds: number[] = [];
    const syncRounds: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      readerRounds.push(await opsPerSecond(readerLoop));
      mapRounds.push(await opsPerSecond(mapLoop));
      syncRounds.push(await opsPerSecond(syncMapLoop));
      log(
        `round ${round}/${ROUNDS}: reader ${Math.round(readerRounds.at(-1) ?? 0)} ops/s, ` +
          `map ${Math.round(mapRounds.at(-1) ?? 0)} ops/s`,
      );
    }
    const opsPerS = median(readerRounds);
    const mapOpsPerS = median(mapRounds);
    const hits = await registry.getSingleMetricAsString('config_cache_hits_total');
    log(hits.split('\n').at(-1) ?? '');
    return {
      ops_per_s: Math.round(opsPerS),
      map_ops_per_s: Math.round(mapOpsPerS),
      // Per round, from back-to-back loops, so load from other processes on the machine mostly cancels out.
      ratio: Number(
        median(mapRounds.map((mapOps, index) => mapOps / (readerRounds[index] as number))).toFixed(2),
      ),
      sync_map_ops_per_s: Math.round(median(syncRounds)),
      keys: KEYS,
      ops_per_round: OPS_PER_ROUND,
      rounds: ROUNDS,
    };
  } finally {
    await reader.close();
    await t.drop();
  }
}
