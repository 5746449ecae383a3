/**
 * A reader in a process of its own, for tests and benchmarks (run by test/helpers/reader-process.ts via tsx).
 * Configured by the READER_CHILD_CONFIG env var (JSON, see ReaderChildConfig). Reads every watched key on a
 * fixed poll, and an invalidated key right after its invalidation, and prints one JSON line per change on stdout:
 * `{"type":"value","key","value","t"}` with `t` from the shared monotonic clock (see reader-process.ts).
 */
import { Registry } from 'prom-client';
import { createDatabase } from '../../db/create-database';
import { createPostgresNotifyTransport } from '../../src/reader/postgres-notify-transport';
import { createRedisTransport } from '../../src/reader/redis-transport';
import type { InvalidationTransport } from '../../src/reader/invalidation-transport';
import type { ConfigValue } from '../../src/config-values/typed-value';
import { createRuntimeConfigReader } from '../../src/reader/runtime-config-reader';
import { monotonicMs, type ReaderChildConfig, type ReaderChildLine } from './reader-process';

function emit(line: ReaderChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.READER_CHILD_CONFIG ?? '') as ReaderChildConfig;
  const db = createDatabase(config.databaseUrl, { applicationName: 'reader-child', maxConnections: 4 });
  let transport: InvalidationTransport | null = null;
  if (config.transport === 'postgres') {
    transport = createPostgresNotifyTransport({
      connectionString: config.databaseUrl,
      applicationName: config.listenerName,
    });
  } else if (config.transport === 'redis') {
    transport = createRedisTransport({
      url: config.redisUrl ?? 'redis://127.0.0.1:6379',
      channel: config.channel,
      connectionName: config.listenerName,
    });
  }
  const reader = createRuntimeConfigReader({ db, transport, registry: new Registry(), ttlMs: config.ttlMs });

  const last = new Map<string, string>();
  const report = (key: string, result: { value?: ConfigValue; error?: string }): void => {
    const text = JSON.stringify(result);
    if (last.get(key) === text) return;
    last.set(key, text);
    emit({ type: 'value', key, t: monotonicMs(), ...result });
  };
  const read = (key: string): Promise<void> =>
    reader.get(key, config.userId ? { userId: config.userId } : {}).then(
      (value) => report(key, { value }),
      (error: unknown) => report(key, { error: (error as Error).message }),
    );
  const watched = new Set(config.keys);

  let sweeping = false;
  let again = false;
  const sweep = async (): Promise<void> => {
    if (sweeping) {
      again = true;
      return;
    }
    sweeping = true;
    do {
      again = false;
      await Promise.all(config.keys.map(read));
    } while (again);
    sweeping = false;
  };
  // Like a service would: re-read what changed right away; the poll catches TTL expiry.
  reader.onInvalidation((invalidation) => {
    if ('all' in invalidation) void sweep();
    else if (watched.has(invalidation.key)) void read(invalidation.key);
  });

  await reader.start({ timeoutMs: 20_000 });
  await sweep();
  const poll = setInterval(() => void sweep(), config.pollMs);
  emit({ type: 'ready', t: monotonicMs() });

  const stop = async (): Promise<void> => {
    clearInterval(poll);
    await reader.close();
    await db.destroy();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((error: unknown) => {
  emit({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
