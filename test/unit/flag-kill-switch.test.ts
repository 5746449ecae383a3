import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { UnifiedConfigOverride } from '../../src/flags/flag-decision';
import { createUnifiedConfigFlag, type UnifiedConfigFlag } from '../../src/flags/unified-config-flag';
import { freePort } from '../helpers/service-unleash';

/**
 * The flag's decisions when Unleash cannot answer: the kill switch, the default with no known state, and a
 * backup file from an earlier run. Unleash here is a port nobody listens on (connection refused), so every
 * answer comes from the override, the backup file or the default, never from a server.
 */

const FLAG = 'unified-config-unit';
const USERS = Array.from({ length: 50 }, (_unused, index) => `user-${index}`);

let unreachableUrl: string;
let backupDir: string;
const flags: UnifiedConfigFlag[] = [];

function resources(): { timers: number; sockets: number } {
  const active = process.getActiveResourcesInfo();
  return {
    timers: active.filter((r) => r === 'Timeout').length,
    sockets: active.filter((r) => r === 'TCPSocketWrap').length,
  };
}

function settledAt(target: { timers: number; sockets: number }): boolean {
  const now = resources();
  return now.timers <= target.timers && now.sockets <= target.sockets;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function makeFlag(registry: Registry, override?: UnifiedConfigOverride): UnifiedConfigFlag {
  const flag = createUnifiedConfigFlag({
    unleashUrl: unreachableUrl,
    clientToken: 'default:development.unit-test-token',
    flagName: FLAG,
    override,
    backupDir,
    // Short, so the one no-op poll timer a closed client may still schedule (see afterAll) is short-lived.
    refreshIntervalMs: 200,
    timeoutMs: 500,
    sendUsageMetrics: false,
    registry,
  });
  flags.push(flag);
  flag.start();
  return flag;
}

async function evaluations(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('config_flag_evaluations_total')?.get();
  return Object.fromEntries(
    (metric?.values ?? []).map((v) => [`${String(v.labels.result)}/${String(v.labels.source)}`, v.value]),
  );
}

/** The file unleash-client writes after each change it receives, in its own format. */
function writeBackup(dir: string, rolloutPercent: number): void {
  const state = {
    version: 2,
    features: [
      {
        name: FLAG,
        enabled: true,
        strategies: [
          {
            name: 'flexibleRollout',
            parameters: { rollout: String(rolloutPercent), stickiness: 'userId', groupId: FLAG },
            constraints: [],
          },
        ],
      },
    ],
    segments: [],
  };
  writeFileSync(path.join(dir, 'unleash-backup-config-service.json'), JSON.stringify(state));
}

beforeAll(async () => {
  unreachableUrl = `http://127.0.0.1:${await freePort()}`;
});

// A flag closed while its request to the unreachable port was retrying lets that request run out (about 2 s:
// three refused attempts 1 s apart; unleash-client cannot cancel it), after which the client schedules one
// last poll that does nothing. Wait for them so jest exits cleanly.
afterAll(() => sleep(2_500));

beforeEach(() => {
  backupDir = mkdtempSync(path.join(os.tmpdir(), 'flag-unit-'));
});

afterEach(() => {
  for (const flag of flags.splice(0)) flag.close();
  rmSync(backupDir, { recursive: true, force: true });
});

describe('unified config flag without Unleash', () => {
  // First, so its baseline has no request of another test still retrying in it.
  it('close() stops polling and leaves no timer or socket behind', async () => {
    // A stand-in Unleash that answers every poll with an empty state and counts the polls.
    let polls = 0;
    const server = http.createServer((_request, response) => {
      polls += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ version: 2, features: [], segments: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const before = resources();
    try {
      const flag = createUnifiedConfigFlag({
        unleashUrl: `http://127.0.0.1:${port}`,
        clientToken: 'default:development.unit-test-token',
        flagName: FLAG,
        backupDir,
        refreshIntervalMs: 1_000,
        sendUsageMetrics: false,
        registry: new Registry(),
      });
      flag.start();
      await waitFor(() => polls >= 2, 'two polls');
      expect(flag.status()).toMatchObject({ ready: true, origin: 'live', reachable: true, defined: false });
      flag.close();
      expect(flag.status().ready).toBe(false);
      await expect(flag.whenReady(1_000)).resolves.toBe(false);
      // A poll in flight at close() may still complete (unleash-client cannot cancel it); none follows it.
      await waitFor(() => settledAt(before), 'timers and sockets back to the baseline');
      const pollsAfterClose = polls;
      await sleep(2_500); // More than two refresh intervals.
      expect(polls).toBe(pollsAfterClose);
      expect(settledAt(before)).toBe(true);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('ENABLE_UNIFIED_CONFIG=off is a kill switch: legacy for everyone, counted as kill_switch', async () => {
    writeBackup(backupDir, 100); // Even a state that enables everyone is overridden.
    const registry = new Registry();
    const flag = makeFlag(registry, 'off');
    await expect(flag.whenReady(10)).resolves.toBe(true);
    await sleep(200); // Give the backup time to load: it must not matter.
    for (const user of USERS) expect(flag.decide(user)).toEqual({ path: 'legacy', source: 'kill_switch' });
    expect(flag.isEnabledFor('user-1')).toBe(false);
    expect(flag.status()).toMatchObject({ override: 'off', ready: true });
    expect(await evaluations(registry)).toMatchObject({ 'legacy/kill_switch': USERS.length + 1 });
  });

  it('ENABLE_UNIFIED_CONFIG=on sends everyone to the unified path', async () => {
    const registry = new Registry();
    const flag = makeFlag(registry, 'on');
    for (const user of USERS) expect(flag.decide(user)).toEqual({ path: 'unified', source: 'kill_switch' });
    expect(flag.decide(undefined)).toEqual({ path: 'unified', source: 'kill_switch' });
    expect(await evaluations(registry)).toMatchObject({ 'unified/kill_switch': USERS.length + 1 });
  });

  it('with no Unleash answer and no backup, serves legacy by default and is not ready', async () => {
    const registry = new Registry();
    const flag = makeFlag(registry);
    await expect(flag.whenReady(500)).resolves.toBe(false);
    await waitFor(() => flag.status().reachable === false, 'the first fetch to fail');
    for (const user of USERS) expect(flag.decide(user)).toEqual({ path: 'legacy', source: 'default' });
    expect(flag.status()).toMatchObject({ origin: 'none', ready: false, reachable: false });
    expect(flag.status().lastError).toContain('127.0.0.1');
    expect(await evaluations(registry)).toMatchObject({ 'legacy/default': USERS.length });
  });

  it('loads the last known state from the backup file while Unleash is unreachable', async () => {
    writeBackup(backupDir, 100);
    const registry = new Registry();
    const flag = makeFlag(registry);
    await expect(flag.whenReady(5_000)).resolves.toBe(true);
    for (const user of USERS) expect(flag.decide(user)).toEqual({ path: 'unified', source: 'unleash' });
    expect(flag.status()).toMatchObject({ origin: 'backup', ready: true, defined: true });
  });

  it('serves the default for a flag the known state does not define', async () => {
    writeBackup(backupDir, 100);
    const registry = new Registry();
    const flag = createUnifiedConfigFlag({
      unleashUrl: unreachableUrl,
      clientToken: 'default:development.unit-test-token',
      flagName: 'some-other-flag',
      backupDir,
      refreshIntervalMs: 200,
      timeoutMs: 500,
      sendUsageMetrics: false,
      registry,
    });
    flags.push(flag);
    flag.start();
    await expect(flag.whenReady(5_000)).resolves.toBe(true);
    expect(flag.decide('user-1')).toEqual({ path: 'legacy', source: 'default' });
    expect(flag.status()).toMatchObject({ ready: true, defined: false });
  });

  it('refuses a second flag on the same registry', () => {
    const registry = new Registry();
    makeFlag(registry, 'off');
    expect(() => makeFlag(registry, 'off')).toThrow(/already registered/);
  });
});
