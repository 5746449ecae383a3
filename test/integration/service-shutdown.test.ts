import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { createSecretBox } from '../../src/secrets/secret-box';
import { eventually } from '../helpers/reader-process';
import { startServiceHarness } from '../helpers/service-harness';
import { startServiceProcess } from '../helpers/service-process';
import { bearer } from '../helpers/service-tokens';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

/**
 * Graceful shutdown with a request really in flight: the PUT waits on the row's advisory lock (setConfig
 * serializes writers per key and user with it), which the test holds in its own transaction. While it waits,
 * shutdown starts; the listener closes, and the PUT completes once the lock is released.
 */

const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

let t: TestDatabase;

/** Holds setConfig's per-(key, user) lock, as a concurrent writer would, until released. */
async function holdWriteLock(url: string, key: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('begin');
  await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [JSON.stringify([key, null])]);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await client.query('commit');
      await client.end();
    },
  };
}

async function waitingOnAdvisoryLock(): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted
  `.execute(t.db);
  return (rows[0]?.n ?? 0) > 0;
}

/** A PUT over a raw socket, so the test sees exactly when it completes (or is cut). */
function putInFlight(
  baseUrl: string,
  key: string,
  value: unknown,
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ value, scope: 'global' });
    const request = http.request(
      new URL(`/api/config/${key}`, baseUrl),
      {
        method: 'PUT',
        headers: {
          ...bearer(),
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', (error) => resolve({ error: error.message }));
      },
    );
    request.on('error', (error) => resolve({ error: error.message }));
    request.end(body);
  });
}

async function connectionRefused(baseUrl: string): Promise<boolean> {
  try {
    await fetch(new URL('/healthz', baseUrl), { signal: AbortSignal.timeout(2_000) });
    return false;
  } catch (error) {
    return /ECONNREFUSED/.test(String((error as { cause?: unknown }).cause ?? error));
  }
}

beforeAll(async () => {
  t = await createTestDatabase('service_shutdown');
});

afterAll(async () => {
  await t?.drop();
});

describe('graceful shutdown', () => {
  it('stops accepting connections, drains the in-flight request, then closes', async () => {
    const harness = await startServiceHarness({ databaseUrl: t.url, secretBox, override: 'off' });
    const lock = await holdWriteLock(t.url, 'drain_key');
    try {
      const inFlight = putInFlight(harness.url, 'drainKey', 42);
      await eventually(waitingOnAdvisoryLock, 'the PUT waits on the lock');

      let closed = false;
      const closing = harness.service.close().then(() => (closed = true));
      await eventually(() => connectionRefused(harness.url), 'the listener is closed');
      expect((await harness.service.readiness()).shuttingDown).toBe(true);
      await sleep(300);
      expect(closed).toBe(false); // Still draining: the PUT has not been answered.

      await lock.release();
      // The legacy path (the kill switch is on) answers a write with 200.
      expect(await inFlight).toEqual({
        status: 200,
        body: JSON.stringify({ key: 'drainKey', value: 42, valueType: 'number' }),
      });
      await closing;
      expect(closed).toBe(true);
      const row = await t.db
        .selectFrom('runtime_config')
        .select(['key', 'value'])
        .where('key', '=', 'drain_key')
        .executeTakeFirst();
      expect(row).toEqual({ key: 'drain_key', value: '42' });
    } finally {
      await lock.release();
      await harness.close();
    }
  });

  it('cuts a request still running after the drain timeout, so shutdown is bounded', async () => {
    const harness = await startServiceHarness({
      databaseUrl: t.url,
      secretBox,
      override: 'off',
      service: { drainTimeoutMs: 500, queryTimeoutMs: 10_000 },
    });
    const lock = await holdWriteLock(t.url, 'stuck_key');
    try {
      const inFlight = putInFlight(harness.url, 'stuckKey', 1);
      await eventually(waitingOnAdvisoryLock, 'the PUT waits on the lock');
      const started = performance.now();
      await harness.service.close();
      expect(performance.now() - started).toBeLessThan(3_000);
      expect(await inFlight).toMatchObject({ error: expect.stringMatching(/socket hang up|ECONNRESET/) });
      expect(harness.logs.text()).toContain('requests still in flight after the drain timeout');
    } finally {
      await lock.release();
      await harness.close();
    }
  });

  it('main.ts drains on SIGTERM and exits 0', async () => {
    const child = await startServiceProcess(
      { DATABASE_URL: t.url, ENABLE_UNIFIED_CONFIG: 'off', CONFIG_INVALIDATION: 'postgres' },
      { waitUntilReady: true },
    );
    const lock = await holdWriteLock(t.url, 'signal_key');
    try {
      const inFlight = putInFlight(child.url, 'signal_key', 'drained');
      await eventually(waitingOnAdvisoryLock, 'the PUT waits on the lock');
      child.signal('SIGTERM');
      await eventually(() => child.output().includes('"shutting down"'), 'the service logs the signal');
      await eventually(() => connectionRefused(child.url), 'the listener is closed');
      await lock.release();
      expect(await inFlight).toMatchObject({ status: 200 });
      expect(await child.exited).toBe(0);
      expect(child.output()).toContain('"shutdown complete"');
    } finally {
      await lock.release();
      child.signal('SIGKILL');
    }
  });
});
