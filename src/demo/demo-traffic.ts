import { setTimeout as delay } from 'node:timers/promises';
import { CONFIG_PATH_HEADER } from '../service/config-service';

const MAX_ERROR_TIMES = 100_000;

/** What the demo's load generator did, for the summary line. */
export interface TrafficTotals {
  requests: number;
  errors: number;
  /** 4xx answers: a token without the `read` and `users` scopes, for one. */
  refused: number;
  unreachable: number;
  /** Answers by the path that served them (the service's `x-config-path` response header). */
  unified: number;
  legacy: number;
}

export interface DemoTraffic {
  totals(): TrafficTotals;
  /** When (epoch ms) the last answer served by the unified path arrived, or null if none yet. */
  lastUnifiedAt(): number | null;
  /** When (epoch ms) the first 5xx answer at or after `since` arrived, or null if none. */
  firstErrorSince(since: number): number | null;
  stop(): Promise<void>;
}

export interface DemoTrafficOptions {
  /** The config service's base URL, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** A bearer token with the `read` and `users` scopes. */
  token: string;
  /** Requests per second, spread over `users` distinct user ids. */
  ratePerSecond: number;
  users: number;
  /** Keys read in turn; each must exist globally. */
  keys: readonly string[];
}

/**
 * A bounded load generator for the demo: `ratePerSecond` reads a second, each as a random one of `users` user
 * ids, so both the unified and the legacy cohort get traffic the `compare` gate can weigh. At most one
 * second's worth of requests is in flight; a slow service makes it send less, never pile up.
 *
 * @example
 * const traffic = startDemoTraffic({ baseUrl: 'http://127.0.0.1:8080', token, ratePerSecond: 100, users: 5000, keys: ['max_tokens'] });
 * await traffic.stop();
 */
export function startDemoTraffic(options: DemoTrafficOptions): DemoTraffic {
  const totals: TrafficTotals = { requests: 0, errors: 0, refused: 0, unreachable: 0, unified: 0, legacy: 0 };
  let lastUnified: number | null = null;
  // Arrival times of 5xx answers, for "first failure after the fault"; bounded, a healthy service sends none.
  const errorTimes: number[] = [];
  const inFlight = new Set<Promise<void>>();
  const controller = new AbortController();
  let stopped = false;

  const one = async (sequence: number): Promise<void> => {
    const user = `demo-user-${Math.floor(Math.random() * options.users)}`;
    const key = options.keys[sequence % options.keys.length]!;
    try {
      const response = await fetch(`${options.baseUrl}/api/config/${encodeURIComponent(key)}`, {
        headers: { authorization: `Bearer ${options.token}`, 'x-user-id': user },
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(2_000)]),
      });
      await response.arrayBuffer();
      const at = Date.now();
      totals.requests += 1;
      // The service names the path that served each request (also on an injected fault's 500).
      const path = response.headers.get(CONFIG_PATH_HEADER);
      if (path === 'unified') {
        totals.unified += 1;
        lastUnified = at;
      } else if (path === 'legacy') {
        totals.legacy += 1;
      }
      if (response.status >= 500) {
        totals.errors += 1;
        if (errorTimes.length < MAX_ERROR_TIMES) errorTimes.push(at);
      } else if (response.status >= 400) totals.refused += 1;
    } catch {
      if (!stopped) totals.unreachable += 1;
    }
  };

  const tickMs = 50;
  const perTick = Math.max(1, Math.round((options.ratePerSecond * tickMs) / 1_000));
  const loop = (async () => {
    let sequence = 0;
    while (!stopped) {
      for (let i = 0; i < perTick && inFlight.size < options.ratePerSecond; i++) {
        const request = one(sequence++).finally(() => inFlight.delete(request));
        inFlight.add(request);
      }
      await delay(tickMs);
    }
  })();

  return {
    totals: () => ({ ...totals }),
    lastUnifiedAt: () => lastUnified,
    firstErrorSince: (since) => errorTimes.find((at) => at >= since) ?? null,
    async stop() {
      stopped = true;
      await loop;
      controller.abort();
      await Promise.allSettled([...inFlight]);
    },
  };
}
