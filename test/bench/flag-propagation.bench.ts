import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { normalizedStrategyValue } from 'unleash-client/lib/strategy/util';
import { readEnv, type Env } from '../../src/config/env';
import { createUnifiedConfigFlag, type UnifiedConfigFlag } from '../../src/flags/unified-config-flag';
import { UnleashAdminClient } from '../../src/unleash/unleash-admin-client';
import { archiveFlag, flagTarget, uniqueFlagName } from '../helpers/service-unleash';

const CLIENTS = 20;
const USERS = 2_000;
const REFRESH_INTERVAL_MS = 1_000;
/**
 * The ramp's moves and a rollback's (to 0 %), large and small, up and down; each changes the decision of some
 * of the users (checked below).
 */
const PERCENTS = [10, 50, 20, 80, 5, 100, 0, 60, 30, 90, 15, 70, 40, 95, 25, 75, 1, 55, 35, 100];
/** A change not seen by every client within this long counts as lost and fails the bench. */
const CHANGE_TIMEOUT_MS = 15_000;
/** How often the clients' decisions are sampled; the resolution of every figure. */
const SAMPLE_MS = 5;
/** How often the server's own client API is asked, with the last ETag (a 304 while nothing changed). */
const SERVER_POLL_MS = 10;

function log(line: string): void {
  process.stderr.write(`[flag-propagation bench] ${line}\n`);
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** A small seeded generator, so every run spaces its changes the same way. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * When the server's client API (`/api/client/features`, what every SDK polls) first serves `percent` for the
 * flag, in ms after `t0`: Unleash's own delay between an Admin API write and what clients can receive.
 */
async function serverSees(env: Env, flag: string, percent: number, t0: number): Promise<number> {
  let etag: string | undefined;
  const deadline = t0 + CHANGE_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const response = await fetch(new URL('/api/client/features', env.UNLEASH_URL), {
      headers: {
        authorization: env.UNLEASH_CLIENT_TOKEN,
        ...(etag ? { 'if-none-match': etag } : {}),
      },
      signal: AbortSignal.timeout(5_000),
    });
    if (response.status === 200) {
      etag = response.headers.get('etag') ?? undefined;
      const body = (await response.json()) as {
        features: { name: string; strategies?: { parameters?: { rollout?: string } }[] }[];
      };
      const feature = body.features.find((f) => f.name === flag);
      if (feature?.strategies?.[0]?.parameters?.rollout === String(percent)) return performance.now() - t0;
    } else {
      await response.arrayBuffer();
    }
    await sleep(SERVER_POLL_MS);
  }
  throw new Error(`Unleash's client API did not serve ${percent}% within ${CHANGE_TIMEOUT_MS} ms`);
}

/**
 * Time from a rollout's flag write (the admin client's `setRolloutPercent`, as the workflow's `setFlagPercent`
 * activity calls it) to every one of CLIENTS flag clients (the config service's own `createUnifiedConfigFlag`,
 * polling every second) deciding the new percent for all USERS users. Each client's switch is spotted by a few
 * users whose decision the change flips (a client replaces its whole flag state at once), then confirmed for
 * every user against the expected decision, computed with unleash-client's own stickiness hash.
 *
 * Alongside, the same change is timed on Unleash's client API itself (`server_*`). Unleash (unleash-server 7.5)
 * answers a client's poll from its revision id, which a scheduled job (`updateMaxRevisionId`, every second,
 * hard-coded in the server's schedule-services.js) refreshes from the event log: a 304 for the old ETag until
 * then. The client-features cache (`clientFeatureCaching` / `CLIENT_FEATURE_CACHING_ENABLED`,
 * `CLIENT_FEATURE_CACHING_MAXAGE`; on, one hour by default) memoizes the response per ETag, which carries that
 * revision, so it adds no delay and turning it off removes none. The worst case is therefore the write, up to a
 * second of the server's check, and up to one refresh interval of the client plus its request.
 */
export default async function flagPropagationBench(): Promise<Record<string, number | string>> {
  const env = readEnv();
  const flag = uniqueFlagName('propagation');
  const target = flagTarget(flag);
  const admin = new UnleashAdminClient({ url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN });
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'flag-propagation-'));
  const clients: UnifiedConfigFlag[] = [];
  const users = Array.from({ length: USERS }, (_unused, index) => `propagation-user-${index}`);
  // The rollout's strategy: stickiness userId, groupId = the flag's name.
  const bucket = new Map(users.map((user) => [user, normalizedStrategyValue(user, flag)]));
  const expected = (user: string, percent: number): boolean => percent > 0 && bucket.get(user)! <= percent;
  const random = seeded(20_261_202);
  try {
    await admin.setRolloutPercent(target, 0);
    for (let index = 0; index < CLIENTS; index++) {
      const client = createUnifiedConfigFlag({
        unleashUrl: env.UNLEASH_URL,
        clientToken: env.UNLEASH_CLIENT_TOKEN,
        flagName: flag,
        appName: `flag-propagation-${index}`,
        backupDir,
        refreshIntervalMs: REFRESH_INTERVAL_MS,
        sendUsageMetrics: false,
        registry: new Registry(),
      });
      client.start();
      clients.push(client);
    }
    for (const client of clients) {
      if (!(await client.whenReady(15_000))) throw new Error('a flag client did not load the flag in 15 s');
    }
    // Every client must hold the flag itself (0 % is "defined", everyone legacy) before the first change.
    const deadline = performance.now() + CHANGE_TIMEOUT_MS;
    while (!clients.every((client) => client.status().defined)) {
      if (performance.now() > deadline) throw new Error('the flag clients did not receive the flag');
      await sleep(50);
    }
    log(`${CLIENTS} clients ready, refreshing every ${REFRESH_INTERVAL_MS} ms; ${PERCENTS.length} changes`);

    const changeMs: number[] = [];
    const clientMs: number[] = [];
    const serverMs: number[] = [];
    const writeMs: number[] = [];
    let previous = 0;
    for (const percent of PERCENTS) {
      const flipped = users.filter((user) => expected(user, percent) !== expected(user, previous));
      if (flipped.length === 0) throw new Error(`${previous}% → ${percent}% changes no user's decision`);
      // A few of the flipped users spot the switch cheaply; all users confirm it.
      const witnesses = flipped.filter((_user, index) => index % Math.ceil(flipped.length / 3) === 0);
      const switchedAt = new Array<number | undefined>(CLIENTS).fill(undefined);

      const t0 = performance.now();
      const server = serverSees(env, flag, percent, t0);
      const readback = await admin.setRolloutPercent(target, percent);
      writeMs.push(performance.now() - t0);
      if (readback.percent !== percent)
        throw new Error(`Unleash confirms ${readback.percent}%, not ${percent}%`);

      while (switchedAt.some((at) => at === undefined)) {
        const now = performance.now();
        if (now - t0 > CHANGE_TIMEOUT_MS) {
          throw new Error(
            `${switchedAt.filter((at) => at === undefined).length} of ${CLIENTS} clients did not decide ${percent}% within ${CHANGE_TIMEOUT_MS} ms`,
          );
        }
        clients.forEach((client, index) => {
          if (switchedAt[index] !== undefined) return;
          if (witnesses.every((user) => client.isEnabledFor(user) === expected(user, percent))) {
            switchedAt[index] = now - t0;
          }
        });
        await sleep(SAMPLE_MS);
      }
      // Confirmed for every user once all switched (a client's state only changes with its next poll, and the
      // flag with the next write), so the sampling above stays light and times the server probe fairly.
      clients.forEach((client, index) => {
        const wrong = users.filter((user) => client.isEnabledFor(user) !== expected(user, percent));
        if (wrong.length > 0) {
          throw new Error(
            `client ${index} at ${percent}%: ${wrong.length} users decided otherwise than expected`,
          );
        }
      });
      const times = switchedAt as number[];
      clientMs.push(...times);
      changeMs.push(Math.max(...times));
      serverMs.push(await server);
      log(
        `${String(previous).padStart(3)}% → ${String(percent).padStart(3)}%: server ${serverMs.at(-1)!.toFixed(0)} ms, ` +
          `every client ${changeMs.at(-1)!.toFixed(0)} ms (${flipped.length} users flipped)`,
      );
      previous = percent;
      // A pause of random length, so the writes do not keep one phase against the clients' polling.
      await sleep(200 + random() * 1_000);
    }
    const round = (value: number): number => Math.round(value);
    return {
      p50_ms: round(percentile(changeMs, 50)),
      p99_ms: round(percentile(changeMs, 99)),
      clients: CLIENTS,
      changes: PERCENTS.length,
      max_ms: round(Math.max(...changeMs)),
      users: USERS,
      refresh_interval_ms: REFRESH_INTERVAL_MS,
      client_p50_ms: round(percentile(clientMs, 50)),
      server_p50_ms: round(percentile(serverMs, 50)),
      server_p99_ms: round(percentile(serverMs, 99)),
      write_p50_ms: round(percentile(writeMs, 50)),
      // Timers of a busy machine fire late: the figures above include that, this says how busy it was.
      load_avg_1m: Number(os.loadavg()[0]!.toFixed(2)),
    };
  } finally {
    for (const client of clients) client.close();
    await archiveFlag(env, flag);
    rmSync(backupDir, { recursive: true, force: true });
  }
}
