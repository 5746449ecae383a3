import { randomBytes } from 'node:crypto';
import { setConfig } from '../../db/runtime-config-queries';
import { createCompareGate, type CompareGateState } from '../../activities/gates/compare-gate';
import { createHttpGate } from '../../activities/gates/http-gate';
import { readEnv, type Env } from '../../src/config/env';
import { gateDefinitionSchema, type CompareGate, type HttpGate } from '../../src/gates/gate-definition';
import { createSecretBox } from '../../src/secrets/secret-box';
import { call, startServiceHarness, type ServiceHarness } from '../helpers/service-harness';
import { TEST_TOKENS } from '../helpers/service-tokens';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { evaluateOncePropagated } from '../helpers/unleash-evaluation';

/**
 * The `compare` and `http` gates against the real config service (real Postgres, real Unleash flag at 50 %):
 * healthy traffic passes; the fault switch failing half of the unified requests fails the compare gate within
 * a few measurements, while the legacy path keeps serving.
 */

const USERS = Array.from({ length: 60 }, (_unused, index) => `gate-user-${index}`);
const secretBox = createSecretBox({ currentKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) });

let env: Env;
let t: TestDatabase;
let flagName: string;
let harness: ServiceHarness;

beforeAll(async () => {
  env = readEnv();
  t = await createTestDatabase('gates_compare');
  await setConfig(t.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
  flagName = uniqueFlagName('gates');
  await setFlagPercent(env, flagName, 50);
  await evaluateOncePropagated(env, flagName, USERS, 50);
  harness = await startServiceHarness({ databaseUrl: t.url, secretBox, flagName, service: { faultRate: 0 } });
});

afterAll(async () => {
  await harness?.close();
  await t?.drop();
  if (flagName) await archiveFlag(env, flagName);
});

/** One round of traffic: every user reads a value once. */
async function round(): Promise<void> {
  for (const user of USERS) await call(harness.url, 'GET', '/api/config/maxTokens', { userId: user });
}

const setFault = (rate: number) =>
  call(harness.url, 'POST', '/admin/fault', { body: { rate }, token: TEST_TOKENS.admin.token });

function compareGate(): CompareGate {
  return gateDefinitionSchema.parse({
    provider: 'compare',
    endpoint: `${harness.url}/metrics`,
    interval: '1s',
    // Test traffic is a few dozen requests per round; production defaults are larger.
    minSample: 20,
  }) as CompareGate;
}

describe('compare and http gates on the real config service', () => {
  it('passes healthy traffic and fails within a few measurements once half the unified requests fail', async () => {
    const gate = createCompareGate(compareGate(), { env: {} });
    let result = await gate.measure(undefined);
    expect(result.verdict).toBe('inconclusive');
    let state: CompareGateState = result.state;
    for (let i = 0; i < 3; i++) {
      await round();
      result = await gate.measure(state);
      state = result.state;
    }
    expect(result.verdict).toBe('pass');
    expect(result.state.test.totals.canaryRequests).toBeGreaterThan(20);
    expect(result.state.test.totals.baselineRequests).toBeGreaterThan(20);
    expect(result.state.test.totals.canaryFailures + result.state.test.totals.baselineFailures).toBe(0);

    expect((await setFault(0.5)).status).toBe(200);
    const verdicts: string[] = [];
    for (let i = 0; i < 5 && result.verdict !== 'fail'; i++) {
      await round();
      result = await gate.measure(state);
      state = result.state;
      verdicts.push(result.verdict);
    }
    expect(result.verdict).toBe('fail');
    expect(verdicts.length).toBeLessThanOrEqual(3);
    expect(result.detail).toMatch(/^unified fails more often than 1\.2× legacy: unified \d+\/\d+ failed/);
    expect(result.state.test.totals.baselineFailures).toBe(0);
    await setFault(0);
  });

  it("the http gate passes on the service's /readyz and fails on an unknown route", async () => {
    const ready = gateDefinitionSchema.parse({ provider: 'http', url: `${harness.url}/readyz` }) as HttpGate;
    expect((await createHttpGate(ready, { env: {} }).measure(undefined)).verdict).toBe('pass');
    const missing = gateDefinitionSchema.parse({
      provider: 'http',
      url: `${harness.url}/no-such-route`,
    }) as HttpGate;
    const result = await createHttpGate(missing, { env: {} }).measure(undefined);
    expect(result.verdict).toBe('fail');
    expect(result.value).not.toBe(200);
  });
});
