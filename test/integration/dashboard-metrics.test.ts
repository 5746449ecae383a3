import { sql } from 'kysely';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setConfig } from '../../db/runtime-config-queries';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { RolloutWorkflow, rollbackSignal, statusQuery } from '../../workflows';
import { insertLegacyRows } from '../helpers/config-fixtures';
import { waitForStatus } from '../helpers/rollout-test-helpers';
import { call } from '../helpers/service-harness';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process';
import { archiveFlag, freePort, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

/**
 * Issue 10, must-show 3: every metric the Grafana dashboard (grafana/dashboards/rollout.json) queries exists on
 * the real processes Prometheus scrapes. The config service runs from its entry point with traffic, a write, an
 * invalidation and a lost LISTEN connection; the worker runs from its entry point with WORKER_METRICS_ADDRESS
 * set, through a short gated rollout (data phases, one gated stage, an operator rollback at the second). Then
 * both /metrics endpoints are scraped, and each metric name (and each label the expressions select or group
 * by) must be there. A renamed metric or a panel typo fails here rather than as an empty panel in production.
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

describe('every metric the dashboard queries exists on the real worker and service', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let service: ServiceProcess | undefined;
  let worker: WorkerProcess | undefined;
  let flag: string;
  const users = Array.from({ length: 60 }, (_unused, index) => `dashboard-user-${index}`);

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
  });

  afterAll(async () => {
    await worker?.stop().catch(() => undefined);
    await service?.stop().catch(() => undefined);
    if (flag) await archiveFlag(temporal.env, flag).catch(() => undefined);
    await temporal?.close();
    await database?.drop();
  });

  test('scraped after traffic, a write, a lost LISTEN connection and a gated rollout rolled back by an operator', async () => {
    service = await startServiceProcess(
      { DATABASE_URL: database.url, UNIFIED_CONFIG_FLAG: flag, CONFIG_INVALIDATION: 'postgres' },
      { waitUntilReady: true },
    );
    const serviceUrl = service.url;

    // Reads through both paths for the whole test (the compare gate needs traffic on each).
    let loading = true;
    const load = (async () => {
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

    try {
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

      const metricsPort = await freePort();
      worker = await startWorkerProcess({
        taskQueue: temporal.taskQueue,
        databaseUrl: database.url,
        env: { WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` },
      });
      const workerMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

      const plan: RolloutPlanInput = {
        flag,
        unleash: { project: 'default', environment: 'development' },
        stages: [
          { percent: 10, soak: '3s', gates: ['compare', 'health'] },
          { percent: 50, soak: '10m' },
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
      await handle.signal(rollbackSignal, { actor: 'jest@dashboard', reason: 'dashboard metrics test' });
      // Settled either way: the rollout may end as a result or as a RolledBack failure.
      await handle.result().catch(() => undefined);
      expect((await handle.query(statusQuery)).outcome).toBe('rolled_back');

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
    } finally {
      loading = false;
      await load;
    }
  });
});
