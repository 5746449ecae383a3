import { Registry } from 'prom-client';
import { parseExposition } from '../../activities/gates/exposition';
import { GateReadError } from '../../activities/gates/gate-fetch';
import { createServiceMetrics } from '../../src/service/service-metrics';

describe('parseExposition', () => {
  it("reads the config service's labelled histogram counts from real prom-client output", async () => {
    const registry = new Registry();
    const metrics = createServiceMetrics(registry, () => 0);
    metrics.requestFinished('GET', '/api/config/:key', 200, 'unified', 0.002);
    metrics.requestFinished('GET', '/api/config/:key', 200, 'unified', 0.004);
    metrics.requestFinished('GET', '/api/config/:key', 500, 'unified', 0.001);
    metrics.requestFinished('GET', '/api/config/:key', 200, 'legacy', 0.003);
    const samples = parseExposition(await registry.metrics());
    const counts = samples.filter((s) => s.name === 'http_request_duration_seconds_count');
    expect(counts).toEqual(
      expect.arrayContaining([
        {
          name: 'http_request_duration_seconds_count',
          labels: { method: 'GET', route: '/api/config/:key', status_code: '200', config_path: 'unified' },
          value: 2,
        },
        {
          name: 'http_request_duration_seconds_count',
          labels: { method: 'GET', route: '/api/config/:key', status_code: '500', config_path: 'unified' },
          value: 1,
        },
        {
          name: 'http_request_duration_seconds_count',
          labels: { method: 'GET', route: '/api/config/:key', status_code: '200', config_path: 'legacy' },
          value: 1,
        },
      ]),
    );
    expect(counts).toHaveLength(3);
    // Buckets and sums come back under their own names with every label, `le` included.
    expect(
      samples.some((s) => s.name === 'http_request_duration_seconds_bucket' && s.labels.le === '+Inf'),
    ).toBe(true);
    expect(samples.find((s) => s.name === 'config_service_fault_rate')?.value).toBe(0);
  });

  it('reads escapes, braces and commas in label values, NaN, ±Inf, exponents and timestamps', () => {
    const text = [
      '# HELP weird A metric with hard values',
      '# TYPE weird gauge',
      'weird{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
      'weird{route="/a/{id},x"} NaN',
      'weird{route="/b"} +Inf 1395066363000',
      'weird{route="/c"} -Inf',
      'plain 12.47',
    ].join('\n');
    const samples = parseExposition(text);
    expect(samples[0]).toEqual({
      name: 'weird',
      labels: { path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' },
      value: 1.458255915e9,
    });
    expect(samples[1]?.labels).toEqual({ route: '/a/{id},x' });
    expect(samples[1]?.value).toBeNaN();
    expect(samples[2]?.value).toBe(Infinity);
    expect(samples[3]?.value).toBe(-Infinity);
    // The last line has no newline after it; it is still read.
    expect(samples[4]).toEqual({ name: 'plain', labels: {}, value: 12.47 });
  });

  it('reads summaries and unlabelled histograms sample by sample', () => {
    const text = [
      '# TYPE rpc summary',
      'rpc{quantile="0.5"} 4773',
      'rpc_sum 1.7560473e+07',
      'rpc_count 2693',
      '# TYPE h histogram',
      'h_bucket{le="1"} 3',
      'h_bucket{le="+Inf"} 4',
      'h_sum 2.5',
      'h_count 4',
      '',
    ].join('\n');
    expect(parseExposition(text).map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`)).toEqual([
      'rpc{"quantile":"0.5"}=4773',
      'rpc_sum{}=17560473',
      'rpc_count{}=2693',
      'h_bucket{"le":"1"}=3',
      'h_bucket{"le":"+Inf"}=4',
      'h_sum{}=2.5',
      'h_count{}=4',
    ]);
  });

  it('refuses text that is not exposition, saying so', () => {
    expect(() => parseExposition('<html><body>login</body></html>')).toThrow(GateReadError);
    expect(() => parseExposition('metric{label=unquoted} 1')).toThrow(/not Prometheus text exposition/);
    expect(() => parseExposition('metric abc')).toThrow(/not a sample value/);
  });

  it('reads an empty scrape as no samples', () => {
    expect(parseExposition('')).toEqual([]);
    expect(parseExposition('# only comments\n')).toEqual([]);
  });
});
