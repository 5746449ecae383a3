import { createPrometheusGate } from '../../activities/gates/prometheus-gate';
import { gateDefinitionSchema, type PrometheusGate } from '../../src/gates/gate-definition';
import { startGateTestServer, type GateTestServer } from './gates-test-server';

let server: GateTestServer;
/** Answers per query text; anything else is an empty vector. */
let answers: Record<string, { status?: number; body: unknown }> = {};

beforeEach(async () => {
  server = await startGateTestServer();
  answers = {};
  server.handle((req, res) => {
    const url = new URL(req.url ?? '/', server.baseUrl);
    const answer = answers[url.searchParams.get('query') ?? ''] ?? {
      body: { status: 'success', data: { resultType: 'vector', result: [] } },
    };
    res.statusCode = answer.status ?? 200;
    res.setHeader('content-type', 'application/json');
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  });
});
afterEach(() => server.close());

const vector = (...values: string[]) => ({
  status: 'success',
  data: {
    resultType: 'vector',
    result: values.map((value, i) => ({ metric: { instance: `i${i}` }, value: [1_700_000_000.123, value] })),
  },
});

function gate(overrides: Record<string, unknown> = {}): PrometheusGate {
  return gateDefinitionSchema.parse({
    provider: 'prometheus',
    url: server.baseUrl,
    query: 'error_ratio',
    threshold: 0.05,
    ...overrides,
  }) as PrometheusGate;
}

const measure = (g: PrometheusGate, env: Record<string, string> = {}) =>
  createPrometheusGate(g, { env }).measure(undefined);

describe('prometheus provider', () => {
  it('queries /api/v1/query and compares the one value with the threshold', async () => {
    answers.error_ratio = { body: vector('0.01') };
    const result = await measure(gate());
    expect(result).toEqual({
      verdict: 'pass',
      value: 0.01,
      threshold: 0.05,
      sample: null,
      detail: 'value 0.01 within value <= 0.05',
      state: null,
    });
    const request = new URL(server.requests[0]?.url ?? '', server.baseUrl);
    expect(request.pathname).toBe('/api/v1/query');
    expect(request.searchParams.get('query')).toBe('error_ratio');
    expect(request.searchParams.get('timeout')).toBe('5s');
    answers.error_ratio = { body: vector('0.2') };
    expect(await measure(gate())).toMatchObject({
      verdict: 'fail',
      value: 0.2,
      detail: 'value 0.2 breaks value <= 0.05',
    });
  });

  it('keeps a path prefix of the server URL', async () => {
    answers.error_ratio = { body: vector('0') };
    await measure(gate({ url: `${server.baseUrl}/prom` }));
    expect(server.requests[0]?.url).toMatch(/^\/prom\/api\/v1\/query\?/);
  });

  it('reads scalars, +Inf and -Inf', async () => {
    answers.error_ratio = {
      body: { status: 'success', data: { resultType: 'scalar', result: [1, '0.03'] } },
    };
    expect(await measure(gate())).toMatchObject({ verdict: 'pass', value: 0.03 });
    answers.error_ratio = { body: vector('+Inf') };
    expect(await measure(gate())).toMatchObject({
      verdict: 'fail',
      value: null,
      detail: 'value Infinity breaks value <= 0.05',
    });
    answers.error_ratio = { body: vector('-Inf') };
    expect(await measure(gate({ passIf: '>' }))).toMatchObject({ verdict: 'fail', value: null });
  });

  it('no data, several series, NaN and a range vector are inconclusive, saying why', async () => {
    expect(await measure(gate())).toMatchObject({
      verdict: 'inconclusive',
      detail: 'the query returned no data',
    });
    answers.error_ratio = { body: vector('1', '2') };
    expect((await measure(gate())).detail).toBe(
      'the query returned 2 series; aggregate it to one (e.g. sum(...))',
    );
    answers.error_ratio = { body: vector('NaN') };
    expect(await measure(gate())).toMatchObject({
      verdict: 'inconclusive',
      detail: 'the query returned NaN (no data to divide?)',
    });
    answers.error_ratio = { body: { status: 'success', data: { resultType: 'matrix', result: [] } } };
    expect((await measure(gate())).detail).toMatch(/returned a matrix/);
  });

  it("reports Prometheus's own error for a bad query", async () => {
    answers.error_ratio = {
      status: 400,
      body: { status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": parse error' },
    };
    const result = await measure(gate());
    expect(result.verdict).toBe('inconclusive');
    expect(result.detail).toBe(
      `could not measure: Prometheus query at ${server.baseUrl}/api/v1/query failed: bad_data: invalid parameter "query": parse error`,
    );
  });

  it('an answer that is not the API is inconclusive and never quotes the query string', async () => {
    answers.error_ratio = { status: 502, body: '<html>bad gateway</html>' };
    const result = await measure(gate());
    expect(result.detail).toBe(
      `could not measure: Prometheus query at ${server.baseUrl}/api/v1/query failed: HTTP 502 with a body that is not JSON`,
    );
  });

  it('checks the sample query against minSample first', async () => {
    answers.error_ratio = { body: vector('0.5') };
    answers.requests = { body: vector('40') };
    const g = gate({ sampleQuery: 'requests', minSample: 100 });
    expect(await measure(g)).toMatchObject({
      verdict: 'inconclusive',
      sample: 40,
      detail: 'sample 40 is below the minimum 100',
    });
    answers.requests = { body: vector('400') };
    expect(await measure(g)).toMatchObject({ verdict: 'fail', value: 0.5, sample: 400 });
    delete answers.requests;
    expect((await measure(g)).detail).toBe('sample query: the query returned no data');
  });

  it('sends the bearer token and gives up on a hung server after the timeout', async () => {
    answers.error_ratio = { body: vector('0') };
    await measure(gate({ bearerTokenEnv: 'PROM_TOKEN' }), { PROM_TOKEN: 'secret-token' });
    expect(server.requests[0]?.headers.authorization).toBe('Bearer secret-token');
    server.handle(() => undefined);
    const result = await measure(gate({ interval: '1s', bearerTokenEnv: 'PROM_TOKEN' }), {
      PROM_TOKEN: 'secret-token',
    });
    expect(result.detail).toBe(
      `could not measure: Prometheus query at ${server.baseUrl}/api/v1/query failed: no answer within 1000 ms`,
    );
    expect(result.detail).not.toContain('secret-token');
  });
});
