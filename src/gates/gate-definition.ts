import { z } from 'zod';
import { durationText, parseDuration } from '../plan/duration';
import { parseSeriesSelector, SelectorError } from './series-selector';
import { describeIssues } from '../validation/zod-issues';

/**
 * Named gate definitions of a rollout plan (SPEC §5, issue 9): what each gate measures, how often, and what a
 * failure does. Pure (zod only), so the plan parser, `rollout plan` and the deterministic workflow validate a
 * plan with the same rules and refuse a bad gate before anything starts.
 *
 * Every gate measures once per `interval` during a stage's soak; each measurement is pass, fail or
 * inconclusive (too little data, or the source could not be read). The common limits mean:
 * - `failureLimit`: the gate fails when this many measurements of the stage have failed (in a row or not);
 *   `onFailure` then applies (`rollback`, the default, or `hold`: pause at the stage, flag unchanged).
 * - `consecutiveSuccesses`: the gate passes a stage only when its last this-many measurements passed.
 * - `inconclusiveLimit`: how long measurements may stay inconclusive in a row before the rollout pauses for a
 *   human.
 * - `timeout`: every read of the gate's source (HTTP request, query) gives up after this long.
 */

export const GATE_PROVIDERS = ['compare', 'metrics', 'prometheus', 'http', 'sql'] as const;
export type GateProviderName = (typeof GATE_PROVIDERS)[number];

const SECOND = 1_000;
const MAX_INTERVAL_MS = 3_600_000;
const MAX_TIMEOUT_MS = 60_000;
const MAX_INCONCLUSIVE_MS = 24 * 3_600_000;
const DEFAULT_TIMEOUT_MS = 5_000;
const GATE_NAME = /^[a-z][a-z0-9_-]{0,39}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]{0,63}$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
export const MAX_GATES = 20;

function shown(value: unknown): string {
  const text =
    typeof value === 'number' || typeof value === 'bigint'
      ? String(value)
      : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** "is required" for a missing field, the expected type otherwise. */
function required(what: string, expected: string, example: string) {
  return (issue: { input?: unknown }) =>
    issue.input === undefined
      ? `${what} is required (${example})`
      : `${what} must be ${expected} (${example}), got ${shown(issue.input)}`;
}

/** A duration written with its unit (`1s`, `500ms`, `2m`), stored in milliseconds, within bounds. */
function gateDuration(what: string, minMs: number, maxMs: number) {
  return z
    .custom<string>(() => true)
    .transform((value: unknown, ctx) => {
      const ms = typeof value === 'string' ? parseDuration(value) : undefined;
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message:
            typeof value === 'number'
              ? `${what} must be a duration with a unit such as 1s, 30s or 5m; a bare number has no unit (got ${value})`
              : `${what} must be a duration such as 1s, 30s or 5m, got ${shown(value)}`,
        });
        return z.NEVER;
      }
      if (ms < minMs || ms > maxMs) {
        ctx.addIssue({
          code: 'custom',
          message: `${what} must be between ${durationText(minMs)} and ${durationText(maxMs)}, got ${durationText(ms)}`,
        });
        return z.NEVER;
      }
      return ms;
    });
}

function count(what: string, max: number) {
  return z
    .number({ error: required(what, 'a whole number', `e.g. 3`) })
    .int(`${what} must be a whole number`)
    .min(1, `${what} must be at least 1`)
    .max(max, `${what} must be at most ${max}`);
}

/** An http(s) URL without credentials: secrets come from the environment (`bearerTokenEnv`), never a plan. */
function endpointUrl(what: string, example: string) {
  return z.string({ error: required(what, 'a URL string', `e.g. ${example}`) }).superRefine((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${what} must be an absolute http(s) URL (e.g. ${example})` });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: `${what} must use http or https, got ${url.protocol}` });
    }
    if (url.username !== '' || url.password !== '') {
      // The URL itself is not repeated: it holds a credential.
      ctx.addIssue({
        code: 'custom',
        message: `${what} must not contain credentials; name an environment variable in bearerTokenEnv instead`,
      });
    }
  });
}

const envName = (what: string) =>
  z
    .string({ error: required(what, 'an environment variable name', 'e.g. PROMETHEUS_TOKEN') })
    .regex(ENV_NAME, `${what} must be an environment variable name such as PROMETHEUS_TOKEN`);

/** A selector in PromQL syntax, checked here so a typo is refused with the plan. */
function selector(what: string, options: { metric: 'required' | 'forbidden' }) {
  return z
    .string({ error: required(what, 'a selector string', 'e.g. status_code=~"5.."') })
    .superRefine((text, ctx) => {
      try {
        const parsed = parseSeriesSelector(text);
        if (options.metric === 'required' && parsed.metric === undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `${what} must name a metric, e.g. http_request_duration_seconds_count{config_path="unified"}`,
          });
        }
        if (options.metric === 'forbidden' && parsed.metric !== undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `${what} takes label matchers only, e.g. status_code=~"5..", not a metric name`,
          });
        }
      } catch (error) {
        if (!(error instanceof SelectorError)) throw error;
        ctx.addIssue({ code: 'custom', message: `${what} is not a valid selector: ${error.message}` });
      }
    });
}

const threshold = z
  .number({ error: required('threshold', 'a number', 'e.g. 0.05') })
  .refine(Number.isFinite, 'threshold must be a finite number');

/** How a measured value is compared with the threshold: the measurement passes when `value <passIf> threshold`. */
export const PASS_IF = ['<', '<=', '>', '>='] as const;
export type PassIf = (typeof PASS_IF)[number];
const passIf = z
  .enum(PASS_IF, {
    error: `passIf must be one of ${PASS_IF.join(' ')} (the value passes when value passIf threshold)`,
  })
  .default('<=');

const minSample = z
  .number({ error: required('minSample', 'a whole number', 'e.g. 100') })
  .int('minSample must be a whole number')
  .min(0, 'minSample must be at least 0')
  .max(1e12, 'minSample must be at most 1e12');

/** Fields every gate has; `failureLimit`'s default differs by provider (see each). */
function commonFields(defaultFailureLimit: number) {
  return {
    /** Time between measurements; down to 1 s. */
    interval: gateDuration('interval', SECOND, MAX_INTERVAL_MS).default(10_000),
    /** Each read of the source gives up after this long; defaults to 5 s or the interval if shorter. */
    timeout: gateDuration('timeout', 100, MAX_TIMEOUT_MS).optional(),
    failureLimit: count('failureLimit', 1_000).default(defaultFailureLimit),
    consecutiveSuccesses: count('consecutiveSuccesses', 1_000).default(1),
    inconclusiveLimit: gateDuration('inconclusiveLimit', 0, MAX_INCONCLUSIVE_MS).default(120_000),
    onFailure: z
      .enum(['rollback', 'hold'], { error: 'onFailure must be rollback or hold' })
      .default('rollback'),
  };
}

/**
 * Canary against baseline on one Prometheus exposition endpoint: counters split by `splitLabel` into the
 * `canary` and `baseline` paths, failures picked by `failure`, judged by the anytime-valid sequential test of
 * `compare-test.ts` (fails as soon as the evidence reaches 1/alpha). Its verdict is already sequential, so
 * one failed measurement is decisive by default.
 */
const compareGateSchema = z
  .object({
    provider: z.literal('compare'),
    endpoint: endpointUrl('endpoint', 'http://127.0.0.1:3000/metrics'),
    bearerTokenEnv: envName('bearerTokenEnv').optional(),
    /** The counter sample to read; a histogram's `_count` counts its requests. */
    metric: z
      .string({ error: required('metric', 'a metric name', 'e.g. http_request_duration_seconds_count') })
      .regex(METRIC_NAME, 'metric must be a Prometheus metric name')
      .default('http_request_duration_seconds_count'),
    /** Extra label matchers every counted sample must satisfy, e.g. `route!="/health"`. */
    select: selector('select', { metric: 'forbidden' }).default(''),
    splitLabel: z
      .string({ error: required('splitLabel', 'a label name', 'e.g. config_path') })
      .regex(LABEL_NAME, 'splitLabel must be a Prometheus label name')
      .default('config_path'),
    canary: z
      .string({ error: required('canary', 'a label value', 'e.g. unified') })
      .min(1)
      .default('unified'),
    baseline: z
      .string({ error: required('baseline', 'a label value', 'e.g. legacy') })
      .min(1)
      .default('legacy'),
    /** Which requests count as failures. */
    failure: selector('failure', { metric: 'forbidden' }).default('status_code=~"5.."'),
    /** Tolerance: the canary's failure rate may be up to this multiple of the baseline's. */
    maxRatio: z
      .number({ error: required('maxRatio', 'a number', 'e.g. 1.2') })
      .min(1, 'maxRatio must be at least 1 (1: no worse than the baseline)')
      .max(100, 'maxRatio must be at most 100')
      .default(1.2),
    /** False-alarm level: the chance that a canary within tolerance is ever failed. */
    alpha: z
      .number({ error: required('alpha', 'a number', 'e.g. 0.01') })
      .gt(0, 'alpha must be above 0')
      .max(0.5, 'alpha must be at most 0.5')
      .default(0.01),
    /** Requests each path needs in the stage before the gate judges; below it a measurement is inconclusive. */
    minSample: minSample.default(100),
    ...commonFields(1),
  })
  .strict()
  .superRefine((gate, ctx) => {
    if (gate.canary === gate.baseline) {
      ctx.addIssue({ code: 'custom', path: ['baseline'], message: 'canary and baseline must differ' });
    }
  });

/** A rate or ratio of counter increases between two scrapes of an exposition endpoint, against a threshold. */
const metricsGateSchema = z
  .object({
    provider: z.literal('metrics'),
    endpoint: endpointUrl('endpoint', 'http://127.0.0.1:3000/metrics'),
    bearerTokenEnv: envName('bearerTokenEnv').optional(),
    /** `ratio`: increase(numerator) / increase(denominator); `rate`: increase(numerator) per second. */
    kind: z.enum(['ratio', 'rate'], { error: 'kind must be ratio or rate' }).default('ratio'),
    numerator: selector('numerator', { metric: 'required' }),
    denominator: selector('denominator', { metric: 'required' }).optional(),
    threshold,
    passIf,
    /** For `ratio`: the denominator's increase below which a measurement is inconclusive. */
    minSample: minSample.optional(),
    ...commonFields(3),
  })
  .strict()
  .superRefine((gate, ctx) => {
    if (gate.kind === 'ratio' && gate.denominator === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['denominator'],
        message:
          'denominator is required for kind ratio, e.g. http_request_duration_seconds_count{config_path="unified"}',
      });
    }
    if (gate.kind === 'rate' && gate.denominator !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['denominator'],
        message: 'a rate has no denominator; use kind ratio',
      });
    }
    if (gate.kind === 'rate' && gate.minSample !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['minSample'], message: 'minSample applies to kind ratio only' });
    }
  });

/** One instant PromQL query over a Prometheus server's HTTP API, against a threshold. */
const prometheusGateSchema = z
  .object({
    provider: z.literal('prometheus'),
    url: endpointUrl('url', 'http://127.0.0.1:9090'),
    bearerTokenEnv: envName('bearerTokenEnv').optional(),
    query: z
      .string({ error: required('query', 'a PromQL string', 'e.g. sum(rate(errors_total[1m]))') })
      .trim()
      .min(1, 'query must not be empty')
      .max(4_000, 'query must be at most 4000 characters'),
    threshold,
    passIf,
    /** A PromQL query for the sample size (e.g. requests in the window); with `minSample`. */
    sampleQuery: z
      .string({ error: required('sampleQuery', 'a PromQL string', 'e.g. sum(increase(requests_total[1m]))') })
      .trim()
      .min(1, 'sampleQuery must not be empty')
      .max(4_000, 'sampleQuery must be at most 4000 characters')
      .optional(),
    minSample: minSample.optional(),
    ...commonFields(3),
  })
  .strict()
  .superRefine((gate, ctx) => {
    if ((gate.minSample === undefined) !== (gate.sampleQuery === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [gate.minSample === undefined ? 'minSample' : 'sampleQuery'],
        message: 'sampleQuery and minSample go together: the sample size and the least that is judged',
      });
    }
  });

const JSON_OPERATORS = ['==', '!=', '<', '<=', '>', '>=', 'exists', 'absent'] as const;
export type JsonOperator = (typeof JSON_OPERATORS)[number];

/** A condition on the JSON body: `path` is dot-separated keys and [index]es, e.g. `checks.db.status` or `items[0].ok`. */
const jsonConditionSchema = z
  .object({
    path: z
      .string({ error: required('path', 'a string', 'e.g. checks.db.status') })
      .regex(
        /^[A-Za-z0-9_$-]+(\[\d+\])*(\.[A-Za-z0-9_$-]+(\[\d+\])*)*$/,
        'path must be keys separated by dots, e.g. checks.db.status or items[0].ok',
      ),
    op: z.enum(JSON_OPERATORS, { error: `op must be one of ${JSON_OPERATORS.join(' ')}` }).default('=='),
    value: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
  })
  .strict()
  .superRefine((condition, ctx) => {
    const needsValue = condition.op !== 'exists' && condition.op !== 'absent';
    if (needsValue && condition.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `op ${condition.op} needs a value` });
    }
    if (!needsValue && condition.value !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `op ${condition.op} takes no value` });
    }
    if (
      ['<', '<=', '>', '>='].includes(condition.op) &&
      condition.value !== undefined &&
      typeof condition.value !== 'number'
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `op ${condition.op} compares numbers; value must be a number`,
      });
    }
  });
export type JsonCondition = z.output<typeof jsonConditionSchema>;

const statusCode = z
  .number({ error: required('expectStatus', 'an HTTP status code or a list of them', 'e.g. 200') })
  .int('expectStatus must be whole numbers')
  .min(100, 'expectStatus must be HTTP status codes (100-599)')
  .max(599, 'expectStatus must be HTTP status codes (100-599)');

/** One HTTP request; passes when the status is expected and every JSON condition holds. */
const httpGateSchema = z
  .object({
    provider: z.literal('http'),
    url: endpointUrl('url', 'http://127.0.0.1:3000/health'),
    bearerTokenEnv: envName('bearerTokenEnv').optional(),
    method: z.enum(['GET', 'HEAD'], { error: 'method must be GET or HEAD' }).default('GET'),
    expectStatus: z
      .union([statusCode, z.array(statusCode).min(1, 'expectStatus must list at least one status').max(20)])
      .transform((value) => (Array.isArray(value) ? value : [value]))
      .default([200]),
    json: z.array(jsonConditionSchema).max(20, 'at most 20 json conditions').default([]),
    ...commonFields(3),
  })
  .strict()
  .superRefine((gate, ctx) => {
    if (gate.method === 'HEAD' && gate.json.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['json'],
        message: 'a HEAD response has no body to check; use GET',
      });
    }
  });

const WRITING_KEYWORDS =
  /\b(insert|update|delete|merge|create|alter|drop|truncate|grant|revoke|copy|call|vacuum|refresh|into|nextval|setval)\b/i;

/**
 * A first, friendly check that a query only reads: one SELECT, WITH, VALUES or TABLE statement, no writing
 * keyword outside string literals and comments. The provider's read-only transaction is what enforces it; this
 * refuses an obvious write with the plan instead of at the first measurement.
 */
export function readOnlyQueryProblem(query: string): string | undefined {
  const code = query
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/"(?:[^"]|"")*"/g, '""')
    .trim();
  const statement = code.replace(/;\s*$/, '');
  if (statement.includes(';')) return 'query must be a single statement';
  if (!/^(select|with|values|table)\b/i.test(statement) && !/^\(/.test(statement)) {
    return 'query must be a read-only SELECT (or WITH, VALUES, TABLE)';
  }
  if (/\bfor\s+(update|share|no\s+key\s+update|key\s+share)\b/i.test(statement)) {
    return 'query must not lock rows (FOR UPDATE / FOR SHARE)';
  }
  const writing = WRITING_KEYWORDS.exec(statement);
  if (writing) {
    return `query must only read; "${writing[0]}" writes (quote an identifier of that name: "${writing[0]}")`;
  }
  return undefined;
}

/**
 * One number from a read-only query: the column named `value` or else the first; a column named `sample`,
 * when present, is the sample size checked against `minSample`. Runs in a READ ONLY transaction with a
 * statement timeout (the gate's `timeout`), on the database named by the environment variable `databaseUrlEnv`.
 */
const sqlGateSchema = z
  .object({
    provider: z.literal('sql'),
    databaseUrlEnv: envName('databaseUrlEnv').default('DATABASE_URL'),
    query: z
      .string({
        error: required(
          'query',
          'an SQL string',
          "e.g. select count(*) from prompt_templates where status = 'invalid'",
        ),
      })
      .max(4_000, 'query must be at most 4000 characters')
      .superRefine((query, ctx) => {
        const problem = readOnlyQueryProblem(query);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    threshold,
    passIf,
    minSample: minSample.optional(),
    ...commonFields(3),
  })
  .strict();

function providerProblem(provider: unknown): string {
  const known = GATE_PROVIDERS.join(', ');
  return provider === undefined
    ? `provider is required (one of ${known})`
    : `unknown provider ${shown(provider)}; expected one of ${known}`;
}

export const gateDefinitionSchema = z
  .discriminatedUnion(
    'provider',
    [compareGateSchema, metricsGateSchema, prometheusGateSchema, httpGateSchema, sqlGateSchema],
    {
      error: (issue) =>
        issue.code === 'invalid_union'
          ? providerProblem((issue.input as { provider?: unknown } | undefined)?.provider)
          : undefined,
    },
  )
  .transform((gate) => ({ ...gate, timeout: gate.timeout ?? Math.min(DEFAULT_TIMEOUT_MS, gate.interval) }))
  .superRefine((gate, ctx) => {
    if (gate.timeout > gate.interval) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeout'],
        message: `timeout (${durationText(gate.timeout)}) must not exceed interval (${durationText(gate.interval)})`,
      });
    }
  });

/** A validated gate: durations in milliseconds, defaults filled in, `timeout` resolved. */
export type GateDefinition = z.output<typeof gateDefinitionSchema>;
/** A gate as written in a plan. */
export type GateDefinitionInput = z.input<typeof gateDefinitionSchema>;
export type CompareGate = Extract<GateDefinition, { provider: 'compare' }>;
export type MetricsGate = Extract<GateDefinition, { provider: 'metrics' }>;
export type PrometheusGate = Extract<GateDefinition, { provider: 'prometheus' }>;
export type HttpGate = Extract<GateDefinition, { provider: 'http' }>;
export type SqlGate = Extract<GateDefinition, { provider: 'sql' }>;

/** The named gates of a plan: `gates: { errors: { provider: compare, ... }, health: { provider: http, ... } }`. */
export const gateDefinitionsSchema = z.record(z.string(), gateDefinitionSchema).superRefine((gates, ctx) => {
  for (const name of Object.keys(gates)) {
    if (!GATE_NAME.test(name)) {
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: `gate name ${shown(name)} must be 1-40 characters: a lower-case letter, then letters, digits, "_" or "-"`,
      });
    }
  }
  if (Object.keys(gates).length > MAX_GATES) {
    ctx.addIssue({ code: 'custom', message: `a plan has at most ${MAX_GATES} gates` });
  }
});
export type GateDefinitions = z.output<typeof gateDefinitionsSchema>;

export class GateDefinitionError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid gate definition:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'GateDefinitionError';
  }
}

/**
 * Validates named gate definitions; throws {@link GateDefinitionError} listing every problem with its path.
 *
 * @example
 * const gates = parseGateDefinitions({ errors: { provider: 'compare', endpoint: 'http://127.0.0.1:3000/metrics', interval: '1s' } });
 * gates.errors.interval; // 1000
 */
export function parseGateDefinitions(input: unknown): GateDefinitions {
  const result = gateDefinitionsSchema.safeParse(input);
  if (result.success) return result.data;
  throw new GateDefinitionError(describeIssues(result.error.issues));
}

/** A validated gate written back as plan input (durations with their units), for a consumer that validates again. */
export function toGateDefinitionInput(gate: GateDefinition): GateDefinitionInput {
  const copy = structuredClone(gate);
  return {
    ...copy,
    interval: durationText(copy.interval),
    timeout: durationText(copy.timeout),
    inconclusiveLimit: durationText(copy.inconclusiveLimit),
  } as GateDefinitionInput;
}
