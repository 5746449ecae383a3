import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSecretBox } from '../../src/secrets/secret-box';
import { call, startServiceHarness, type ServiceHarness } from './service-harness';
import { TEST_TOKENS } from './service-tokens';

export interface ServiceUnderLoad {
  harness: ServiceHarness;
  /** Starts the load loop (if it is not running): users read `maxTokens` through the service in turn. */
  startLoad(): void;
  /** Stops the load loop and waits for its last request. */
  stopLoad(): Promise<void>;
  /** Config requests the load loop made so far. */
  requests(): number;
  /** The service's fault switch: the unified path fails this fraction of requests. */
  setFault(rate: number): Promise<void>;
  close(): Promise<void>;
}

const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

/**
 * The real config service in this process on a test database (which must hold `max_tokens`), routing by
 * `flag` in the Unleash at `unleashUrl` (default the shared one), with an optional load loop of 60 users (a
 * few hundred requests a second at most, paced so it does not take a core of its own). Start with
 * `load: false` for "no traffic".
 *
 * @example
 * const service = await startServiceUnderLoad({ databaseUrl: db.url, flag, load: true });
 * await service.setFault(0.5);
 * await service.close();
 */
export async function startServiceUnderLoad(options: {
  databaseUrl: string;
  flag: string;
  unleashUrl?: string;
  load: boolean;
}): Promise<ServiceUnderLoad> {
  const users = Array.from({ length: 60 }, (_unused, index) => `load-user-${index}`);
  const harness = await startServiceHarness({
    databaseUrl: options.databaseUrl,
    secretBox,
    flagName: options.flag,
    ...(options.unleashUrl ? { unleashUrl: options.unleashUrl } : {}),
    service: { faultRate: 0 },
  });
  let running = false;
  let loop: Promise<void> = Promise.resolve();
  let requests = 0;
  const startLoad = () => {
    if (running) return;
    running = true;
    loop = (async () => {
      while (running) {
        for (const user of users) {
          if (!running) break;
          await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user }).catch(() => undefined);
          requests += 1;
          if (requests % 10 === 0) await sleep(20);
        }
      }
    })();
  };
  const stopLoad = async () => {
    running = false;
    await loop;
  };
  if (options.load) startLoad();
  return {
    harness,
    startLoad,
    stopLoad,
    requests: () => requests,
    setFault: async (rate) => {
      const answer = await call(harness.url, 'POST', '/admin/fault', {
        body: { rate },
        token: TEST_TOKENS.admin.token,
      });
      if (answer.status !== 200) throw new Error(`fault switch answered ${answer.status}: ${answer.text}`);
    },
    close: async () => {
      await stopLoad();
      await harness.close();
    },
  };
}
