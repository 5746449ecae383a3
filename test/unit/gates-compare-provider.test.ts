import { Gauge, Registry } from 'prom-client';
import { createCompareGate, type CompareGateState } from '../../activities/gates/compare-gate';
import type { GateResult } from '../../activities/gates/gate-provider';
import { gateDefinitionSchema, type CompareGate } from '../../src/gates/gate-definition';
import { createServiceMetrics, type ServiceMetrics } from '../../src/service/service-metrics';
import { closedPort, startGateTestServer, type GateTestServer } from './gates-test-server';

/** The config service's own metrics on a registry the fake /metrics endpoint serves. */
class FakeService {
  registry = new Registry();
  metrics: ServiceMetrics = createServiceMetrics(this.registry, () => 0);
  startTime = 1_700_000_000;
  exposeStartTime = false;

  /** Serves `count` requests on `path`, `failures` of them with 500. */
  serve(path: 'unified' | 'legacy', count: number, failures = 0): void {
    for (let i = 0; i < count; i++) {
      this.metrics.requestFinished('GET', '/api/config/:key', i < failures ? 500 : 200, path, 0.001);
    }
  }

  /** A restart: every counter starts again from zero (and the start time moves on, when exposed). */
  restart(): void {
    this.registry = new Registry();
    this.metrics = createServiceMetrics(this.registry, () => 0);
    this.startTime += 60;
    if (this.exposeStartTime) this.withStartTime();
  }

  /** Exposes `process_start_time_seconds`, as prom-client's default metrics do. */
  withStartTime(): this {
    this.exposeStartTime = true;
    const start = this.startTime;
    new Gauge({ name: 'process_start_time_seconds', help: 'start', registers: [this.registry] }).set(start);
    return this;
  }
}

let server: GateTestServer;
let service: FakeService;

beforeEach(async () => {
  server = await startGateTestServer();
  service = new FakeService();
  server.handle((_req, res) => {
    void service.registry.metrics().then((text) => {
      res.setHeader('content-type', service.registry.contentType);
      res.end(text);
    });
  });
});
afterEach(() => server.close());

function gate(overrides: Record<string, unknown> = {}): CompareGate {
  return gateDefinitionSchema.parse({
    provider: 'compare',
    endpoint: `${server.baseUrl}/metrics`,
    interval: '1s',
    minSample: 50,
    ...overrides,
  }) as CompareGate;
}

async function run(
  provider: ReturnType<typeof createCompareGate>,
  steps: (() => void)[],
): Promise<GateResult<CompareGateState>[]> {
  const results: GateResult<CompareGateState>[] = [];
  let state: CompareGateState | undefined;
  for (const step of steps) {
    step();
    const result = await provider.measure(state);
    results.push(result);
    state = result.state;
  }
  return results;
}

describe('compare provider', () => {
  it('takes a baseline, is inconclusive below the minimum sample, then passes a healthy canary', async () => {
    const provider = createCompareGate(gate(), { env: {} });
    const results = await run(provider, [
      () => service.serve('legacy', 1_000, 10),
      () => {
        service.serve('unified', 20);
        service.serve('legacy', 200, 2);
      },
      () => {
        service.serve('unified', 200, 2);
        service.serve('legacy', 1_800, 18);
      },
    ]);
    expect(results.map((r) => r.verdict)).toEqual(['inconclusive', 'inconclusive', 'pass']);
    expect(results[0]?.detail).toMatch(/first scrape/);
    expect(results[1]?.detail).toMatch(/fewer than 50 requests/);
    // The baseline scrape's 1,000 legacy requests are not the stage's: only increases count.
    expect(results[2]?.state.test.totals).toEqual({
      canaryRequests: 220,
      canaryFailures: 2,
      baselineRequests: 2_000,
      baselineFailures: 20,
    });
    expect(results[2]).toMatchObject({ threshold: 100, sample: 220 });
    expect(results[2]?.detail).toMatch(
      /^no regression so far: unified 2\/220 failed \(0\.91 %\), legacy 20\/2,000 \(1\.00 %\)/,
    );
  });

  it('fails as soon as the unified path fails far more often, and keeps failing', async () => {
    const provider = createCompareGate(gate(), { env: {} });
    const results = await run(provider, [
      () => service.serve('legacy', 10),
      () => {
        service.serve('unified', 100, 20);
        service.serve('legacy', 900, 9);
      },
      () => {
        service.serve('unified', 100);
        service.serve('legacy', 900, 9);
      },
    ]);
    expect(results.map((r) => r.verdict)).toEqual(['inconclusive', 'fail', 'fail']);
    expect(results[1]?.value).toBeGreaterThanOrEqual(100);
    expect(results[1]?.detail).toMatch(/unified fails more often than 1\.2× legacy/);
  });

  it('says the soak ended when told so', async () => {
    const provider = createCompareGate(gate(), { env: {} });
    service.serve('legacy', 1);
    const first = await provider.measure(undefined);
    service.serve('unified', 100);
    service.serve('legacy', 900);
    const last = await provider.measure(first.state, { soakEnded: true });
    expect(last.verdict).toBe('pass');
    expect(last.detail).toMatch(/^soak ended with no regression/);
  });

  it('handles a service restart: counters that went down count from zero', async () => {
    const provider = createCompareGate(gate(), { env: {} });
    const results = await run(provider, [
      () => {
        service.serve('unified', 500);
        service.serve('legacy', 2_000);
      },
      () => {
        service.restart();
        service.serve('unified', 100, 1);
        service.serve('legacy', 900, 9);
      },
    ]);
    expect(results[1]?.state.test.totals).toEqual({
      canaryRequests: 100,
      canaryFailures: 1,
      baselineRequests: 900,
      baselineFailures: 9,
    });
    expect(results[1]?.state.resets).toBeGreaterThan(0);
    expect(results[1]?.detail).toMatch(/counter reset\(s\): the service restarted/);
    expect(results[1]?.verdict).toBe('pass');
  });

  it('knows a restart from process_start_time_seconds even when the new counts passed the old ones', async () => {
    service.withStartTime();
    const provider = createCompareGate(gate(), { env: {} });
    const results = await run(provider, [
      () => {
        service.serve('unified', 50);
        service.serve('legacy', 50);
      },
      () => {
        service.restart();
        service.serve('unified', 100, 1);
        service.serve('legacy', 900, 9);
      },
    ]);
    expect(results[1]?.state.test.totals).toEqual({
      canaryRequests: 100,
      canaryFailures: 1,
      baselineRequests: 900,
      baselineFailures: 9,
    });
  });

  it('ignores requests outside the two paths and the failures of other labels', async () => {
    const provider = createCompareGate(gate({ select: 'route!="/health"' }), { env: {} });
    service.serve('legacy', 1);
    const first = await provider.measure(undefined);
    service.metrics.requestFinished('GET', '/health', 500, 'unified', 0.001);
    service.metrics.requestFinished('GET', '/metrics', 500, 'none', 0.001);
    service.metrics.requestFinished('GET', '/api/config/:key', 404, 'unified', 0.001);
    const next = await provider.measure(first.state);
    expect(next.state.test.totals).toEqual({
      canaryRequests: 1,
      canaryFailures: 0,
      baselineRequests: 0,
      baselineFailures: 0,
    });
  });

  it('is inconclusive while the endpoint has no series of either path', async () => {
    const result = await createCompareGate(gate(), { env: {} }).measure(undefined);
    expect(result.verdict).toBe('inconclusive');
    expect(result.detail).toMatch(
      /no http_request_duration_seconds_count series with config_path="unified" or "legacy"/,
    );
  });

  it('an unreadable endpoint is inconclusive, names it without its query string, and keeps the state', async () => {
    const port = await closedPort();
    const provider = createCompareGate(gate({ endpoint: `http://127.0.0.1:${port}/metrics?token=s3cret` }), {
      env: {},
    });
    const result = await provider.measure(undefined);
    expect(result.verdict).toBe('inconclusive');
    expect(result.detail).toBe(
      `could not measure: scrape of http://127.0.0.1:${port}/metrics failed: ECONNREFUSED`,
    );
    expect(result.detail).not.toContain('s3cret');
  });

  it('gives up on a hung endpoint after the timeout', async () => {
    server.handle(() => undefined);
    const provider = createCompareGate(gate({ timeout: '200ms' }), { env: {} });
    const started = Date.now();
    const result = await provider.measure(undefined);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.verdict).toBe('inconclusive');
    expect(result.detail).toMatch(/failed: no answer within 200 ms$/);
  });

  it('a failed scrape after a rejection still fails', async () => {
    const provider = createCompareGate(gate(), { env: {} });
    const results = await run(provider, [
      () => service.serve('legacy', 1),
      () => {
        service.serve('unified', 100, 50);
        service.serve('legacy', 900, 9);
      },
    ]);
    expect(results[1]?.verdict).toBe('fail');
    server.handle((_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    const after = await provider.measure(results[1]?.state);
    expect(after.verdict).toBe('fail');
    expect(after.detail).toMatch(/HTTP 503/);
  });

  it('sends the bearer token from the environment and never shows it', async () => {
    const provider = createCompareGate(gate({ bearerTokenEnv: 'METRICS_TOKEN' }), {
      env: { METRICS_TOKEN: 'tok-123' },
    });
    await provider.measure(undefined);
    expect(server.requests[0]?.headers.authorization).toBe('Bearer tok-123');
    const missing = await createCompareGate(gate({ bearerTokenEnv: 'METRICS_TOKEN' }), { env: {} }).measure(
      undefined,
    );
    expect(missing.detail).toBe(
      'could not measure: the environment variable METRICS_TOKEN (bearerTokenEnv) is not set',
    );
  });

  it('refuses a body that is not exposition, and an OpenMetrics answer, as inconclusive', async () => {
    server.handle((_req, res) => res.end('<html>login</html>'));
    const html = await createCompareGate(gate(), { env: {} }).measure(undefined);
    expect(html.verdict).toBe('inconclusive');
    expect(html.detail).toMatch(/not Prometheus text exposition/);
    server.handle((_req, res) => {
      res.setHeader('content-type', 'application/openmetrics-text; version=1.0.0');
      res.end('# EOF\n');
    });
    expect((await createCompareGate(gate(), { env: {} }).measure(undefined)).detail).toMatch(
      /only the Prometheus text format/,
    );
  });

  it('keeps its state small and JSON-safe whatever the traffic', async () => {
    const provider = createCompareGate(gate(), { env: {} });
    const results = await run(provider, [
      () => service.serve('legacy', 1),
      () => {
        service.serve('unified', 10_000, 100);
        service.serve('legacy', 90_000, 900);
      },
    ]);
    const state = results[1]?.state;
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(JSON.stringify(state).length).toBeLessThan(2_000);
    expect(JSON.parse(JSON.stringify(results[1]))).toEqual(results[1]);
  });
});
