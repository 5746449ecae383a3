import { createHttpGate } from '../../activities/gates/http-gate';
import { gateDefinitionSchema, type HttpGate } from '../../src/gates/gate-definition';
import { jsonConditionProblem } from '../../src/gates/json-condition';
import { closedPort, startGateTestServer, type GateTestServer } from './gates-test-server';

let server: GateTestServer;

beforeEach(async () => {
  server = await startGateTestServer();
});
afterEach(() => server.close());

function answer(status: number, body: unknown, headers: Record<string, string> = {}): void {
  server.handle((_req, res) => {
    res.statusCode = status;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

function gate(overrides: Record<string, unknown> = {}): HttpGate {
  return gateDefinitionSchema.parse({
    provider: 'http',
    url: `${server.baseUrl}/health`,
    ...overrides,
  }) as HttpGate;
}

const measure = (g: HttpGate, env: Record<string, string> = {}) =>
  createHttpGate(g, { env }).measure(undefined);

describe('http provider', () => {
  it('passes on an expected status and fails on another', async () => {
    answer(200, 'ok');
    const ok = await measure(gate());
    expect(ok).toMatchObject({ verdict: 'pass', value: 200, threshold: null, sample: 1, state: null });
    expect(ok.detail).toMatch(new RegExp(`^GET ${server.baseUrl}/health answered 200 in \\d+ ms$`));
    answer(503, 'down');
    const down = await measure(gate());
    expect(down).toMatchObject({ verdict: 'fail', value: 503 });
    expect(down.detail).toMatch(/answered 503 in \d+ ms, expected 200$/);
    answer(204, '');
    expect((await measure(gate({ expectStatus: [200, 204] }))).verdict).toBe('pass');
  });

  it('checks JSON conditions and says which failed with what', async () => {
    answer(200, { status: 'ok', checks: { db: { ok: true, latencyMs: 12 } }, items: [{ name: 'a' }] });
    const conditions = [
      { path: 'status', value: 'ok' },
      { path: 'checks.db.ok', value: true },
      { path: 'checks.db.latencyMs', op: '<', value: 100 },
      { path: 'items[0].name', op: 'exists' },
      { path: 'error', op: 'absent' },
    ];
    expect(await measure(gate({ json: conditions }))).toMatchObject({ verdict: 'pass' });
    answer(200, { status: 'degraded', checks: { db: { ok: true, latencyMs: 250 } }, items: [] });
    const failed = await measure(gate({ json: conditions }));
    expect(failed.verdict).toBe('fail');
    expect(failed.detail).toBe(
      `GET ${server.baseUrl}/health answered 200: status is "degraded", expected == "ok"; checks.db.latencyMs is 250, expected < 100; items[0].name is missing, expected exists`,
    );
  });

  it('fails on a body that is not JSON when conditions need one', async () => {
    answer(200, '<html>');
    expect((await measure(gate({ json: [{ path: 'status', value: 'ok' }] }))).detail).toMatch(
      /a body that is not JSON$/,
    );
  });

  it('no answer is a failure of this gate, named without credentials or query', async () => {
    const port = await closedPort();
    const refused = await measure(gate({ url: `http://127.0.0.1:${port}/health?key=hunter2` }));
    expect(refused).toMatchObject({ verdict: 'fail', value: null, sample: 0 });
    expect(refused.detail).toBe(`GET http://127.0.0.1:${port}/health failed: ECONNREFUSED`);
    server.handle(() => undefined);
    const hung = await measure(gate({ timeout: '300ms' }));
    expect(hung.detail).toBe(`GET ${server.baseUrl}/health failed: no answer within 300 ms`);
  });

  it('does not follow redirects: a 302 is the answer', async () => {
    answer(302, '', { location: 'http://127.0.0.1:1/elsewhere' });
    expect(await measure(gate())).toMatchObject({ verdict: 'fail', value: 302 });
  });

  it('refuses a body over 1 MB rather than reading it', async () => {
    answer(200, 'x'.repeat(2 * 1024 * 1024));
    const result = await measure(gate({ json: [{ path: 'a', op: 'exists' }] }));
    expect(result.verdict).toBe('fail');
    expect(result.detail).toMatch(/failed: the body is (more than )?\d+ bytes/);
  });

  it('sends a bearer token from the environment; a missing variable is inconclusive', async () => {
    answer(200, 'ok');
    await measure(gate({ bearerTokenEnv: 'HEALTH_TOKEN' }), { HEALTH_TOKEN: 't0k' });
    expect(server.requests[0]?.headers.authorization).toBe('Bearer t0k');
    expect(await measure(gate({ bearerTokenEnv: 'HEALTH_TOKEN' }))).toMatchObject({
      verdict: 'inconclusive',
      detail: 'could not measure: the environment variable HEALTH_TOKEN (bearerTokenEnv) is not set',
    });
  });
});

describe('jsonConditionProblem', () => {
  const body = { a: { b: [1, { c: null }] }, n: 5, s: '5', toString: 'own' };
  it.each([
    [{ path: 'a.b[0]', op: '==', value: 1 }, undefined],
    [{ path: 'a.b[1].c', op: '==', value: null }, undefined],
    [{ path: 'a.b[1].c', op: 'exists' }, undefined],
    [{ path: 'n', op: '>=', value: 5 }, undefined],
    [{ path: 's', op: '>=', value: 5 }, 's is "5", expected >= 5'],
    [{ path: 'a.b[2]', op: 'exists' }, 'a.b[2] is missing, expected exists'],
    [{ path: 'n', op: '!=', value: 5 }, 'n is 5, expected != 5'],
    [{ path: 'missing', op: '!=', value: 5 }, 'missing is missing, expected != 5'],
    [{ path: 'a', op: '==', value: 'x' }, 'a is {"b":[1,{"c":null}]}, expected == "x"'],
    [{ path: 'constructor', op: 'absent' }, undefined],
    [{ path: 'toString', op: '==', value: 'own' }, undefined],
  ] as const)('%j', (condition, problem) => {
    expect(jsonConditionProblem(body, condition)).toBe(problem);
  });
});
