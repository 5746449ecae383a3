import { createMetricsGate, type MetricsGateState } from '../../activities/gates/metrics-gate';
import { gateDefinitionSchema, type MetricsGate } from '../../src/gates/gate-definition';
import { startGateTestServer, type GateTestServer } from './gates-test-server';

let server: GateTestServer;
let body = '';
let clock = 1_000_000;

beforeEach(async () => {
  server = await startGateTestServer();
  server.handle((_req, res) => res.end(body));
  clock = 1_000_000;
});
afterEach(() => server.close());

const exposition = (rows: [string, number][]) =>
  `${rows.map(([series, value]) => `${series} ${value}`).join('\n')}\n`;

function gate(overrides: Record<string, unknown>): MetricsGate {
  return gateDefinitionSchema.parse({
    provider: 'metrics',
    endpoint: `${server.baseUrl}/metrics`,
    numerator: 'requests_total{path="unified",code=~"5.."}',
    denominator: 'requests_total{path="unified"}',
    threshold: 0.05,
    ...overrides,
  }) as MetricsGate;
}

async function measureAll(g: MetricsGate, scrapes: { rows: [string, number][]; advanceMs?: number }[]) {
  const provider = createMetricsGate(g, { env: {}, now: () => clock });
  const results = [];
  let state: MetricsGateState | undefined;
  for (const scrape of scrapes) {
    body = exposition(scrape.rows);
    clock += scrape.advanceMs ?? 1_000;
    const result = await provider.measure(state);
    results.push(result);
    state = result.state;
  }
  return results;
}

describe('metrics provider: ratio', () => {
  it('compares the ratio of increases between two scrapes with the threshold', async () => {
    const results = await measureAll(gate({}), [
      {
        rows: [
          ['requests_total{path="unified",code="200"}', 1_000],
          ['requests_total{path="unified",code="500"}', 10],
          ['requests_total{path="legacy",code="500"}', 999],
        ],
      },
      {
        rows: [
          ['requests_total{path="unified",code="200"}', 1_096],
          ['requests_total{path="unified",code="500"}', 14],
          ['requests_total{path="legacy",code="500"}', 5_000],
        ],
      },
      {
        rows: [
          ['requests_total{path="unified",code="200"}', 1_186],
          ['requests_total{path="unified",code="500"}', 24],
          ['requests_total{path="legacy",code="500"}', 5_000],
        ],
      },
    ]);
    expect(results.map((r) => r.verdict)).toEqual(['inconclusive', 'pass', 'fail']);
    expect(results[0]?.detail).toBe(
      'first scrape: series matched numerator 1, denominator 2; the ratio starts with the next',
    );
    expect(results[1]).toMatchObject({ value: 0.04, threshold: 0.05, sample: 100 });
    expect(results[1]?.detail).toBe('ratio 0.04000 (4/100) within value <= 0.05');
    expect(results[2]).toMatchObject({ value: 0.1, sample: 100 });
    expect(results[2]?.detail).toBe('ratio 0.1000 (10/100) breaks value <= 0.05');
  });

  it('is inconclusive below the minimum sample or without matching series', async () => {
    const results = await measureAll(gate({ minSample: 50 }), [
      { rows: [['requests_total{path="unified",code="200"}', 10]] },
      { rows: [['requests_total{path="unified",code="200"}', 30]] },
    ]);
    expect(results[1]?.verdict).toBe('inconclusive');
    expect(results[1]?.detail).toBe('denominator increased by 20, below the minimum sample 50');
    const none = await measureAll(gate({}), [{ rows: [['other_total', 1]] }, { rows: [['other_total', 2]] }]);
    expect(none[1]?.verdict).toBe('inconclusive');
    expect(none[1]?.detail).toMatch(
      /below the minimum sample 1; no series match requests_total\{path="unified"\}/,
    );
  });

  it('counts a counter that went down as restarted from zero', async () => {
    const results = await measureAll(gate({}), [
      {
        rows: [
          ['requests_total{path="unified",code="200"}', 5_000],
          ['requests_total{path="unified",code="500"}', 50],
        ],
      },
      {
        rows: [
          ['requests_total{path="unified",code="200"}', 95],
          ['requests_total{path="unified",code="500"}', 5],
        ],
      },
    ]);
    expect(results[1]).toMatchObject({ verdict: 'pass', value: 0.05, sample: 100 });
    expect(results[1]?.detail).toBe(
      'ratio 0.05000 (5/100) within value <= 0.05; counters reset: the target restarted',
    );
  });

  it('passes or fails by passIf: a ratio that must stay above its threshold', async () => {
    const g = gate({
      numerator: 'cache_hits_total',
      denominator: 'cache_lookups_total',
      threshold: 0.9,
      passIf: '>=',
    });
    const results = await measureAll(g, [
      {
        rows: [
          ['cache_hits_total', 0],
          ['cache_lookups_total', 0],
        ],
      },
      {
        rows: [
          ['cache_hits_total', 95],
          ['cache_lookups_total', 100],
        ],
      },
      {
        rows: [
          ['cache_hits_total', 175],
          ['cache_lookups_total', 200],
        ],
      },
    ]);
    expect(results.map((r) => r.verdict)).toEqual(['inconclusive', 'pass', 'fail']);
  });
});

describe('metrics provider: rate', () => {
  it('divides the increase by the seconds between scrapes', async () => {
    const g = gate({ kind: 'rate', denominator: undefined, numerator: 'errors_total', threshold: 2 });
    const results = await measureAll(g, [
      { rows: [['errors_total', 100]] },
      { rows: [['errors_total', 110]], advanceMs: 10_000 },
      { rows: [['errors_total', 160]], advanceMs: 10_000 },
    ]);
    expect(results.map((r) => r.verdict)).toEqual(['inconclusive', 'pass', 'fail']);
    expect(results[1]).toMatchObject({ value: 1, sample: 10 });
    expect(results[2]).toMatchObject({ value: 5, sample: 50 });
    expect(results[2]?.detail).toBe('rate 5.000/s (50 in 10.0 s) breaks value <= 2');
  });

  it('a rate of zero errors passes', async () => {
    const g = gate({ kind: 'rate', denominator: undefined, numerator: 'errors_total', threshold: 0 });
    const results = await measureAll(g, [{ rows: [['errors_total', 3]] }, { rows: [['errors_total', 3]] }]);
    expect(results[1]).toMatchObject({ verdict: 'pass', value: 0 });
  });
});

describe('metrics provider: unreadable sources', () => {
  it('a failed scrape is inconclusive and keeps the last counters', async () => {
    const g = gate({});
    const provider = createMetricsGate(g, { env: {}, now: () => clock });
    body = exposition([['requests_total{path="unified",code="200"}', 10]]);
    const first = await provider.measure(undefined);
    server.handle((_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const failed = await provider.measure(first.state);
    expect(failed.verdict).toBe('inconclusive');
    expect(failed.detail).toBe(`could not measure: scrape of ${server.baseUrl}/metrics failed: HTTP 500`);
    expect(failed.state).toEqual(first.state);
  });
});
