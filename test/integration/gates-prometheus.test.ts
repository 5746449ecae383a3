import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { createPrometheusGate } from '../../activities/gates/prometheus-gate';
import { gateDefinitionSchema, type PrometheusGate } from '../../src/gates/gate-definition';
import { createServiceMetrics } from '../../src/service/service-metrics';

/**
 * The `prometheus` provider against a real Prometheus server (Debian's `prometheus` package): the test starts
 * the binary itself on a free port with its own config and storage, scraping an exposition endpoint served
 * from this process with the config service's metrics, and stops it afterwards. Nothing here is skipped: a
 * machine without the binary fails with how to install it.
 */

const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? 'prometheus';

let workDir: string;
let prometheus: ChildProcess | undefined;
let prometheusUrl: string;
let target: Server;
let output = '';
const registry = new Registry();
const metrics = createServiceMetrics(registry, () => 0);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`${what} within ${timeoutMs} ms; prometheus said:\n${output.slice(-2_000)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The value of an instant query straight from the API, for waiting until the data is there. */
async function instant(query: string): Promise<number | undefined> {
  const url = new URL('/api/v1/query', prometheusUrl);
  url.searchParams.set('query', query);
  const body = (await (await fetch(url, { signal: AbortSignal.timeout(2_000) })).json()) as {
    data?: { result?: { value: [number, string] }[] };
  };
  const value = body.data?.result?.[0]?.value[1];
  return value === undefined ? undefined : Number(value);
}

function serve(path: 'unified' | 'legacy', count: number, failures = 0): void {
  for (let i = 0; i < count; i++) {
    metrics.requestFinished('GET', '/api/config/:key', i < failures ? 500 : 200, path, 0.001);
  }
}

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'gates-prometheus-'));
  target = createHttpServer((_req, res) => {
    void registry.metrics().then((text) => {
      res.setHeader('content-type', registry.contentType);
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const targetPort = (target.address() as { port: number }).port;
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  writeFileSync(
    path.join(workDir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: config-service',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${targetPort}']`,
      '',
    ].join('\n'),
  );
  serve('unified', 100, 1);
  serve('legacy', 900, 9);
  prometheus = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${path.join(workDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(workDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const started = new Promise<void>((resolve, reject) => {
    prometheus?.once('spawn', resolve);
    prometheus?.once('error', (error) =>
      reject(
        new Error(
          `cannot start ${PROMETHEUS_BIN} (${error.message}): install Debian's package (apt-get install -y prometheus) ` +
            'or set PROMETHEUS_BIN; the test starts the binary itself and needs no service',
        ),
      ),
    );
  });
  prometheus.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  prometheus.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await started;
  await waitFor('prometheus ready', 30_000, async () =>
    (await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined,
  );
  // Two scrapes of the target are needed before increase() has a value.
  await waitFor('two scrapes of the target', 30_000, async () => {
    const samples = await instant('count_over_time(up{job="config-service"}[1m])');
    return samples !== undefined && samples >= 2 ? true : undefined;
  });
}, 90_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
    prometheus.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
  }
  target?.closeAllConnections();
  await new Promise<void>((resolve) => target?.close(() => resolve()));
  rmSync(workDir, { recursive: true, force: true });
});

function gate(query: string, overrides: Record<string, unknown> = {}): PrometheusGate {
  return gateDefinitionSchema.parse({
    provider: 'prometheus',
    url: prometheusUrl,
    query,
    threshold: 0.05,
    ...overrides,
  }) as PrometheusGate;
}

const measure = (g: PrometheusGate) => createPrometheusGate(g, { env: {} }).measure(undefined);

const UNIFIED_ERRORS = 'sum(http_request_duration_seconds_count{config_path="unified",status_code=~"5.."})';
const UNIFIED_ALL = 'sum(http_request_duration_seconds_count{config_path="unified"})';

describe('prometheus provider against a real Prometheus server', () => {
  it("passes on the scraped service's unified error ratio below the threshold", async () => {
    const result = await measure(gate(`${UNIFIED_ERRORS} / ${UNIFIED_ALL}`));
    expect(result).toMatchObject({ verdict: 'pass', value: 0.01, threshold: 0.05 });
  });

  it('fails once the unified path starts failing, as soon as Prometheus has scraped it', async () => {
    serve('unified', 100, 100);
    const errorsNow = await waitFor('the new failures in Prometheus', 20_000, async () => {
      const value = await instant(UNIFIED_ERRORS);
      return value !== undefined && value >= 101 ? value : undefined;
    });
    expect(errorsNow).toBe(101);
    const result = await measure(gate(`${UNIFIED_ERRORS} / ${UNIFIED_ALL}`));
    expect(result).toMatchObject({ verdict: 'fail', value: 0.505 });
    expect(result.detail).toBe('value 0.505 breaks value <= 0.05');
  });

  it('checks the sample size with sampleQuery and minSample', async () => {
    const thin = await measure(
      gate(`${UNIFIED_ERRORS} / ${UNIFIED_ALL}`, { sampleQuery: UNIFIED_ALL, minSample: 1_000_000 }),
    );
    expect(thin.verdict).toBe('inconclusive');
    expect(thin.detail).toMatch(/^sample 200 is below the minimum 1000000$/);
    const enough = await measure(
      gate('sum(up)', { threshold: 1, passIf: '>=', sampleQuery: UNIFIED_ALL, minSample: 100 }),
    );
    expect(enough).toMatchObject({ verdict: 'pass', value: 1, sample: 200 });
  });

  it('reads rates over a range, as gates usually query', async () => {
    const result = await measure(
      gate('sum(rate(http_request_duration_seconds_count{config_path="legacy"}[1m]))', {
        threshold: 0,
        passIf: '>=',
      }),
    );
    expect(result.verdict).toBe('pass');
    expect(result.value).not.toBeNull();
  });

  it('is inconclusive for no data, for several series and for NaN', async () => {
    expect(await measure(gate('sum(no_such_metric_total)'))).toMatchObject({
      verdict: 'inconclusive',
      detail: 'the query returned no data',
    });
    expect((await measure(gate('http_request_duration_seconds_count'))).detail).toMatch(
      /^the query returned \d+ series; aggregate it to one/,
    );
    expect((await measure(gate('sum(up) * 0 / 0'))).detail).toBe(
      'the query returned NaN (no data to divide?)',
    );
  });

  it("reports Prometheus's own error for bad PromQL", async () => {
    const result = await measure(gate('sum(rate(http_request_duration_seconds_count[1m])'));
    expect(result.verdict).toBe('inconclusive');
    expect(result.detail).toMatch(
      new RegExp(
        `^could not measure: Prometheus query at ${prometheusUrl}/api/v1/query failed: bad_data: .*parse error`,
      ),
    );
  });
});
