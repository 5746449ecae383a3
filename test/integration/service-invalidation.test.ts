import { randomBytes } from 'node:crypto';
import { createSecretBox } from '../../src/secrets/secret-box';
import { eventually } from '../helpers/reader-process';
import { call, startServiceHarness, type ServiceHarness } from '../helpers/service-harness';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

/**
 * Two service instances on one database, each with its own pool, listener and cache (TTL one hour, so any
 * fresh value arrived by push): a PUT through one is served by the other within milliseconds, through each
 * invalidation transport; the writing instance itself answers its own write at once.
 */

const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

describe.each(['postgres', 'redis'] as const)(
  'PUT on one instance, GET on another (%s invalidation)',
  (transport) => {
    let t: TestDatabase;
    let writer: ServiceHarness;
    let reader: ServiceHarness;

    beforeAll(async () => {
      t = await createTestDatabase(`service_invalidation_${transport}`);
      // The kill switch in either position keeps Unleash out of this test; one instance per path.
      writer = await startServiceHarness({ databaseUrl: t.url, secretBox, transport, override: 'on' });
      reader = await startServiceHarness({ databaseUrl: t.url, secretBox, transport, override: 'off' });
    });

    afterAll(async () => {
      await writer?.close();
      await reader?.close();
      await t?.drop();
    });

    it('sees a global update through the other instance within milliseconds', async () => {
      const key = `modelName_${transport}`;
      await call(writer.url, 'PUT', `/api/config/${key}`, { body: { value: 'gpt-4.1' } });
      // The second instance now caches the value for an hour.
      expect((await call(reader.url, 'GET', `/api/config/${key}`)).json).toMatchObject({ value: 'gpt-4.1' });
      expect((await call(reader.url, 'GET', `/api/config/${key}`)).json).toMatchObject({ value: 'gpt-4.1' });

      const written = await call(writer.url, 'PUT', `/api/config/${key}`, { body: { value: 'gpt-5' } });
      expect(written.status).toBe(200);
      const started = performance.now();
      await eventually(
        async () =>
          ((await call(reader.url, 'GET', `/api/config/${key}`)).json as { value: string }).value === 'gpt-5',
        'the other instance serves the new value',
        5_000,
      );
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    it("reads its own write at once on the writing instance (it waits for its cache's invalidation)", async () => {
      const key = `ownWrite_${transport}`;
      for (let round = 0; round < 20; round += 1) {
        await call(writer.url, 'PUT', `/api/config/${key}`, { body: { value: round } });
        expect((await call(writer.url, 'GET', `/api/config/${key}`)).json).toMatchObject({ value: round });
      }
    });

    it("invalidates one user's value without touching another's", async () => {
      const key = `perUser_${transport}`;
      await call(writer.url, 'PUT', `/api/config/${key}`, { body: { value: 'global', scope: 'global' } });
      await call(writer.url, 'PUT', `/api/config/${key}`, { userId: 'alice', body: { value: 'alice-1' } });
      expect((await call(reader.url, 'GET', `/api/config/${key}`, { userId: 'alice' })).json).toMatchObject({
        value: 'alice-1',
      });
      expect((await call(reader.url, 'GET', `/api/config/${key}`, { userId: 'bob' })).json).toMatchObject({
        value: 'global',
      });
      await call(writer.url, 'PUT', `/api/config/${key}`, { userId: 'alice', body: { value: 'alice-2' } });
      await eventually(
        async () =>
          (
            (await call(reader.url, 'GET', `/api/config/${key}`, { userId: 'alice' })).json as {
              value: string;
            }
          ).value === 'alice-2',
        "alice's new value reaches the other instance",
        5_000,
      );
      expect((await call(reader.url, 'GET', `/api/config/${key}`, { userId: 'bob' })).json).toMatchObject({
        value: 'global',
      });
    });

    it('counts the invalidations it received on /metrics', async () => {
      const metrics = await call(reader.url, 'GET', '/metrics');
      const match = new RegExp(`config_invalidations_total\\{transport="${transport}"\\} (\\d+)`).exec(
        metrics.text,
      );
      expect(Number(match?.[1])).toBeGreaterThanOrEqual(3);
    });
  },
);
