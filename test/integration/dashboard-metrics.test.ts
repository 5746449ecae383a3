import { sql } from 'kysely';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { setConfig } from '../../db/runtime-config-queries';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { RolloutWorkflow, statusQuery } from '../../workflows';
import { insertLegacyRows } from '../helpers/config-fixtures';
import { waitForStatus } from '../helpers/rollout-test-helpers';
import { call } from '../helpers/service-harness';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process';
import { TEST_TOKENS } from '../helpers/service-tokens';
import { archiveFlag, freePort, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

/**
 * Issue 10, must-show 3: every metric the Grafana dashboard (grafana/dashboards/rollout.json) queries exists on
 * the real processes Prometheus scrapes. The config service runs from its entry point with traffic, a write, an
 * invalidation and a lost LISTEN connection; the worker runs from its entry point with WORKER_METRICS_ADDRESS
 * set, through a short gated rollout (data phases, a gated stage that passes, then the fault switch fails the
 * second stage's gate and the rollout rolls back). Then both /metrics endpoints are scraped, and each metric
 * name (and each label the expressions select or group by) must be there. Then a real Prometheus, run on the repository's prometheus.yml with the compose targets
 * pointed at these processes, must find every job up and return data for every panel and variable query. A
 * renamed metric, a panel typo or a broken expression fails here rather than as an empty panel in production.
 */

const root = path.resolve(__dirname, '..', '..');
const DASHBOARD = 'grafana/dashboards/rollout.json';

/**
 * The worker's rollout metrics, by the names the dashboard must query (issue 10's "Dashboards" bullet: percent,
 * phase, gate value vs threshold, verdicts, rows migrated, rollbacks). The one place to adjust when a name
 * changes (then change the dashboard's expressions to match).
 */
const ROLLOUT_METRICS = [
  'rollout_percent',
  'rollout_phase',
  'rollout_gate_value',
  'rollout_gate_threshold',
  'rollout_gate_verdicts_total',
  'rollout_rows_migrated_total',
  'rollout_rollbacks_total',
] as const;

/** The service's metrics the issue names: requests and errors by config_path, latency, cache, invalidations. */
const SERVICE_METRICS = [
  'http_request_duration_seconds_count',
  'http_request_duration_seconds_bucket',
  'config_cache_hits_total',
  'config_cache_misses_total',
  'config_invalidations_total',
] as const;

/** Legacy keys the key migration renames (camelCase → snake_case), so the data phases migrate rows. */
const LEGACY_KEYS = [
  ['maxTokens', 'max_tokens'],
  ['temperatureDefault', 'temperature_default'],
  ['topPValue', 'top_p_value'],
] as const;

/** Metrics by these prefixes come from the worker's endpoint; every other one from the config service's. */
const WORKER_PREFIXES = ['rollout_', 'temporal_'];

// ---------------------------------------------------------------------------------------------------------
// The dashboard's PromQL, read just well enough for its own expressions.

/** Words PromQL reserves between operands; none can be a metric name here. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'atan2',
  'inf',
  'nan',
]);
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
const MATCHERS = /\{([^}]*)\}/g;

function withoutStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
}

/**
 * The metric names of one expression: identifiers that are not a function or aggregation (followed by `(`),
 * not a keyword, and not inside a label matcher `{…}`, a range `[…]`, a grouping clause `by (…)` or a string.
 * `(?![\w:])` keeps the match whole (no backtracking from `sum` to `su`), and `(?<![\w:.$])` skips the unit of
 * a duration (`5m`), an exponent (`1e3`) and a Grafana variable (`$flag`).
 */
function metricNamesOf(expr: string): string[] {
  const bare = withoutStrings(expr)
    .replace(MATCHERS, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(GROUPING, ' ');
  const names = [...bare.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)]
    .map((match) => match[1] ?? '')
    .filter((name) => !KEYWORDS.has(name.toLowerCase()));
  return [...new Set(names)];
}

/** The label names an expression matches on (`{flag=~"…"}`) or groups by (`by (config_path)`). */
function labelNamesOf(expr: string): string[] {
  const source = withoutStrings(expr);
  const matched = [...source.matchAll(MATCHERS)].flatMap((match) =>
    [...(match[1] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((label) => label[1] ?? ''),
  );
  const grouped = [...source.matchAll(GROUPING)].flatMap((match) =>
    (match[1] ?? '')
      .split(',')
      .map((label) => label.trim())
      .filter((label) => label !== ''),
  );
  return [...new Set([...matched, ...grouped])].filter((label) => label !== '__name__');
}

interface DashboardQuery {
  where: string;
  expr: string;
  metrics: string[];
  labels: string[];
}

function query(where: string, expr: string, extraLabels: string[] = []): DashboardQuery {
  return { where, expr, metrics: metricNamesOf(expr), labels: [...labelNamesOf(expr), ...extraLabels] };
}

interface Panel {
  title?: string;
  type?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every PromQL expression of the dashboard: panel targets and template variables (`label_values(sel, label)`). */
function dashboardQueries(): DashboardQuery[] {
  const dashboard = JSON.parse(readFileSync(path.join(root, DASHBOARD), 'utf8')) as {
    panels?: Panel[];
    templating?: { list?: { name: string; query?: string | { query?: string } }[] };
  };
  const panels = (dashboard.panels ?? []).flatMap((panel) => [panel, ...(panel.panels ?? [])]);
  const fromPanels = panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => query(`panel "${panel.title}"`, target.expr ?? '')),
  );
  const fromVariables = (dashboard.templating?.list ?? []).flatMap((variable) => {
    const text = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
    const where = `variable $${variable.name}`;
    const labelValues = /^label_values\(\s*(.+?)\s*,\s*([a-zA-Z_]\w*)\s*\)$/.exec(text.trim());
    // label_values(selector, label): the selector is PromQL, the label one its series must carry.
    if (labelValues) return [query(where, labelValues[1] ?? '', [labelValues[2] ?? ''])];
    return text ? [query(where, text)] : [];
  });
  return [...fromPanels, ...fromVariables];
}

// ---------------------------------------------------------------------------------------------------------
// A scrape: sample names and each sample's label names (the text exposition format).

type Scrape = Map<string, Set<string>[]>;

function parseExposition(text: string): Scrape {
  const series: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{.*\})?\s/.exec(line);
    if (!match?.[1]) continue;
    const labels = new Set(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="(?:[^"\\]|\\.)*"/g)].map((label) => label[1] ?? ''),
    );
    series.set(match[1], [...(series.get(match[1]) ?? []), labels]);
  }
  return series;
}

async function scrape(url: string): Promise<{ text: string; series: Scrape }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${text.slice(0, 200)}`);
  return { text, series: parseExposition(text) };
}

function isWorkerMetric(name: string): boolean {
  return WORKER_PREFIXES.some((prefix) => name.startsWith(prefix));
}

interface Findings {
  missingMetrics: string[];
  missingLabels: string[];
}

/** What the dashboard asks for that the two scrapes do not have. */
function findMissing(worker: Scrape, service: Scrape): Findings {
  const missingMetrics = new Set<string>();
  const missingLabels = new Set<string>();
  for (const { where, metrics, labels } of dashboardQueries()) {
    for (const metric of metrics) {
      const scraped = isWorkerMetric(metric) ? worker : service;
      if (!scraped.has(metric))
        missingMetrics.add(`${metric} (${isWorkerMetric(metric) ? 'worker' : 'service'})`);
    }
    for (const label of labels) {
      const carried = metrics.some((metric) =>
        ((isWorkerMetric(metric) ? worker : service).get(metric) ?? []).some((labels) => labels.has(label)),
      );
      const anyScraped = metrics.some((metric) => (isWorkerMetric(metric) ? worker : service).has(metric));
      if (!carried && anyScraped)
        missingLabels.add(`${where}: label ${label} on none of ${metrics.join(', ')}`);
    }
  }
  return { missingMetrics: [...missingMetrics].sort(), missingLabels: [...missingLabels].sort() };
}

// ---------------------------------------------------------------------------------------------------------

describe('the dashboard reader (unit checks of the parser the test relies on)', () => {
  it('finds metric names and only metric names', () => {
    expect(
      metricNamesOf(
        'histogram_quantile(0.95, sum by (le, config_path) (rate(http_request_duration_seconds_bucket{config_path!="none", route=~"a|b"}[$__rate_interval])))',
      ),
    ).toEqual(['http_request_duration_seconds_bucket']);
    expect(
      metricNamesOf(
        'sum(rate(a_total[5m] offset 1h)) / (sum(rate(a_total[5m])) + sum(rate(b_total[1m:10s]))) > bool 1e3',
      ),
    ).toEqual(['a_total', 'b_total']);
    expect(
      metricNamesOf('max by (flag, phase) (rollout_phase{flag=~"$flag"}) == 1 and on (flag) up'),
    ).toEqual(['rollout_phase', 'up']);
    expect(labelNamesOf('sum by (gate, verdict) (increase(x{flag=~"$flag", environment="a"}[1m]))')).toEqual([
      'flag',
      'environment',
      'gate',
      'verdict',
    ]);
  });

  it('finds every metric the issue asks the dashboard to show', () => {
    const used = new Set(dashboardQueries().flatMap(({ metrics }) => metrics));
    expect([...ROLLOUT_METRICS, ...SERVICE_METRICS].filter((name) => !used.has(name))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// A real Prometheus (Debian's package, as the gates test uses it) on the repository's prometheus.yml.

const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? 'prometheus';

/** Grafana's variables as the dashboard's defaults resolve them (every flag and environment). */
const GRAFANA_VARIABLES: Record<string, string> = {
  flag: '.*',
  environment: '.*',
  __rate_interval: '1m',
  __interval: '5s',
  __range: '15m',
};

function withGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
    const value = GRAFANA_VARIABLES[braced ?? bare ?? ''];
    if (value === undefined) throw new Error(`no value for the Grafana variable ${whole}`);
    return value;
  });
}

/**
 * prometheus.yml as docker-compose.yml runs it, with each compose target (`worker:9464`, `config-service:8080`)
 * replaced by the test's process and every interval shortened to a second; jobs, paths and everything else
 * unchanged.
 */
function prometheusConfig(targets: Record<string, string>): string {
  const config = parse(readFileSync(path.join(root, 'prometheus.yml'), 'utf8')) as {
    global?: Record<string, unknown>;
    scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; [key: string]: unknown }[];
  };
  const scrapeConfigs = config.scrape_configs.map((job) => {
    const { scrape_interval: _interval, scrape_timeout: _timeout, ...rest } = job;
    return {
      ...rest,
      static_configs: (job.static_configs ?? []).map((group) => ({
        ...group,
        targets: group.targets.map((address) => targets[address] ?? address),
      })),
    };
  });
  return stringify({
    ...config,
    global: { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: scrapeConfigs,
  });
}

interface PrometheusProcess {
  url: string;
  /** An instant query: the result's series count, or the error Prometheus gave. */
  query(expr: string): Promise<{ series: number; error?: string }>;
  stop(): Promise<void>;
}

/** Starts Prometheus on a free port; `configFor` gets its own address (for the job that scrapes itself). */
async function startPrometheus(configFor: (ownAddress: string) => string): Promise<PrometheusProcess> {
  const workDir = mkdtempSync(path.join(tmpdir(), 'dashboard-prometheus-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(path.join(workDir, 'prometheus.yml'), configFor(`127.0.0.1:${port}`));
  let output = '';
  const child: ChildProcess = spawn(
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
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) =>
      reject(
        new Error(
          `cannot start ${PROMETHEUS_BIN} (${error.message}): install Debian's package (apt-get install -y prometheus) or set PROMETHEUS_BIN`,
        ),
      ),
    );
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).catch(
      () => undefined,
    );
    if (ready?.ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`Prometheus did not become ready:\n${output.slice(-2_000)}`);
    }
    await sleep(200);
  }
  return {
    url,
    query: async (expr) => {
      const endpoint = new URL('/api/v1/query', url);
      endpoint.searchParams.set('query', expr);
      const response = await fetch(endpoint, { signal: AbortSignal.timeout(5_000) });
      const body = (await response.json()) as {
        status: string;
        error?: string;
        data?: { result?: unknown[] };
      };
      return body.status === 'success'
        ? { series: body.data?.result?.length ?? 0 }
        : { series: 0, error: body.error ?? `HTTP ${response.status}` };
    },
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        // A cancelled wait: a pending timer would keep jest running after the file ends.
        const grace = new AbortController();
        await Promise.race([
          exited,
          sleep(10_000, undefined, { signal: grace.signal }).catch(() => undefined),
        ]);
        grace.abort();
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

describe('the dashboard against the real worker and service', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let service: ServiceProcess | undefined;
  let worker: WorkerProcess | undefined;
  let prometheus: PrometheusProcess | undefined;
  let flag: string;
  let serviceUrl: string;
  let workerMetricsUrl: string;
  let loading = false;
  let load: Promise<void> = Promise.resolve();
  const users = Array.from({ length: 60 }, (_unused, index) => `dashboard-user-${index}`);

  /**
   * The service with traffic, a write, a lost LISTEN connection and injected 5xx; the worker through a gated
   * rollout (data phases, a passed gated stage, a failed one that rolls back); Prometheus scraping both.
   */
  beforeAll(async () => {
    database = await createTestDatabase('dashboard_metrics');
    temporal = await connectTestTemporal('dashboard');
    flag = uniqueFlagName('dashboard');
    await setConfig(database.db, { key: 'max_tokens', userId: null, value: 1024, valueType: 'number' });
    // Legacy keys for the key migration to rename, so the data phases migrate rows.
    await insertLegacyRows(
      database.db,
      LEGACY_KEYS.map(([key]) => ({ key, userId: 'legacy-user' })),
    );
    await setFlagPercent(temporal.env, flag, 0);

    service = await startServiceProcess(
      { DATABASE_URL: database.url, UNIFIED_CONFIG_FLAG: flag, CONFIG_INVALIDATION: 'postgres' },
      { waitUntilReady: true },
    );
    serviceUrl = service.url;
    const metricsPort = await freePort();
    worker = await startWorkerProcess({
      taskQueue: temporal.taskQueue,
      databaseUrl: database.url,
      env: { WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` },
    });
    workerMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    prometheus = await startPrometheus((ownAddress) =>
      prometheusConfig({
        'worker:9464': `127.0.0.1:${metricsPort}`,
        'config-service:8080': new URL(serviceUrl).host,
        'localhost:9090': ownAddress,
      }),
    );

    // Reads through both paths for the whole file (the compare gate needs traffic on each).
    loading = true;
    load = (async () => {
      let requests = 0;
      while (loading) {
        for (const user of users) {
          if (!loading) break;
          await call(serviceUrl, 'GET', '/api/config/maxTokens', { userId: user }).catch(() => undefined);
          requests += 1;
          if (requests % 10 === 0) await sleep(20);
        }
      }
    })();

    // A write through the API (config_changes_total) whose NOTIFY reaches the reader (invalidations).
    const write = await call(serviceUrl, 'PUT', '/api/config/maxTokens', {
      userId: 'dashboard-writer',
      body: { value: 2048, valueType: 'number', scope: 'user' },
    });
    expect(write.status).toBeLessThan(300);

    // A lost LISTEN connection: the reader must resubscribe (config_invalidation_resubscribes_total).
    // Two statements: in one, Postgres may call pg_terminate_backend before the other conditions filter.
    const listeners = await sql<{ pid: number }>`
      select pid from pg_stat_activity
      where datname = current_database() and application_name = 'config-service-listener'
    `.execute(database.db);
    expect(listeners.rows.length).toBeGreaterThan(0);
    const terminated = await sql<{ done: boolean }>`
      select pg_terminate_backend(${listeners.rows[0]?.pid ?? -1}::int) as done
    `.execute(database.db);
    expect(terminated.rows[0]?.done).toBe(true);

    const plan: RolloutPlanInput = {
      flag,
      unleash: { project: 'default', environment: 'development' },
      stages: [
        { percent: 10, soak: '3s', gates: ['compare', 'health'] },
        { percent: 50, soak: '10m', gates: ['compare', 'health'] },
        { percent: 100, soak: '0s' },
      ],
      gates: {
        compare: {
          provider: 'compare',
          endpoint: `${serviceUrl}/metrics`,
          interval: '1s',
          // Test traffic is small; production minimums are larger.
          minSample: 5,
          inconclusiveLimit: '30s',
        },
        health: { provider: 'http', url: `${serviceUrl}/readyz`, interval: '1s' },
      },
    };
    const rolloutId = `r-dashboard-${uniqueSuffix()}`;
    const handle = await temporal.client.workflow.start(RolloutWorkflow, {
      workflowId: rolloutId,
      taskQueue: temporal.taskQueue,
      args: [{ rolloutId, plan, requestedBy: 'jest@dashboard' }],
      typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
    });
    await waitForStatus(handle, (status) => status.stageIndex === 1, 'stage 2 (50%)', 120_000);
    // The key migration renamed the legacy rows: rollout_rows_migrated_total had rows to count.
    const renamed = await database.db
      .selectFrom('runtime_config')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', 'legacy-user')
      .where(
        'key',
        'in',
        LEGACY_KEYS.map(([, snake]) => snake),
      )
      .executeTakeFirstOrThrow();
    expect(Number(renamed.n)).toBe(LEGACY_KEYS.length);

    // The fault switch at 50%: the unified path answers 5xx (the error panels' data), the compare gate fails
    // and the rollout rolls back (gate verdicts `fail`, a rollback with cause `gate_failed`).
    const admin = { token: TEST_TOKENS.admin.token };
    expect((await call(serviceUrl, 'POST', '/admin/fault', { ...admin, body: { rate: 0.5 } })).status).toBe(
      200,
    );
    // Settled either way: the rollout may end as a result or as a RolledBack failure.
    await handle.result().catch(() => undefined);
    expect((await call(serviceUrl, 'POST', '/admin/fault', { ...admin, body: { rate: 0 } })).status).toBe(
      200,
    );
    expect((await scrape(`${serviceUrl}/metrics`)).text).toMatch(/status_code="5\d\d"/);
    expect((await handle.query(statusQuery)).outcome).toBe('rolled_back');
  }, 300_000);

  afterAll(async () => {
    loading = false;
    await load;
    await prometheus?.stop().catch(() => undefined);
    await worker?.stop().catch(() => undefined);
    await service?.stop().catch(() => undefined);
    if (flag) await archiveFlag(temporal.env, flag).catch(() => undefined);
    await temporal?.close();
    await database?.drop();
  });

  test('every metric and label the dashboard queries is on the worker and service /metrics', async () => {
    // Counters and gauges are there once emitted; allow the exporters a few scrapes to catch up.
    let findings: Findings = { missingMetrics: ['(not scraped yet)'], missingLabels: [] };
    let workerText = '';
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const [workerScrape, serviceScrape] = await Promise.all([
        scrape(workerMetricsUrl),
        scrape(`${serviceUrl}/metrics`),
      ]);
      workerText = workerScrape.text;
      findings = findMissing(workerScrape.series, serviceScrape.series);
      if (findings.missingMetrics.length === 0 && findings.missingLabels.length === 0) break;
      await sleep(500);
    }
    if (findings.missingMetrics.length > 0) {
      const rolloutLines = workerText.split('\n').filter((line) => line.startsWith('rollout_'));
      console.log(`worker's rollout_* samples:\n${rolloutLines.join('\n') || '(none)'}`);
    }
    expect(findings).toEqual({ missingMetrics: [], missingLabels: [] });
  });

  test('every panel and variable query returns data in Prometheus scraping both with prometheus.yml', async () => {
    if (!prometheus) throw new Error('Prometheus did not start');
    const running = prometheus;
    // Every job of prometheus.yml is up: the targets, paths and ports it names are the processes' own.
    const up = await running.query('up == 1');
    const down = await running.query('up == 0');
    expect({ up: up.series, down: down.series }).toEqual({ up: 3, down: 0 });

    // Rates need two samples after a series appears: retry until every query has data, then report.
    let empty: string[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      empty = [];
      for (const { where, expr } of dashboardQueries()) {
        const answer = await running.query(withGrafanaVariables(expr));
        if (answer.error) empty.push(`${where}: ${answer.error}`);
        else if (answer.series === 0) empty.push(`${where}: no data for ${expr}`);
      }
      if (empty.length === 0 || Date.now() > deadline) break;
      await sleep(1_000);
    }
    expect(empty).toEqual([]);
  });
});
