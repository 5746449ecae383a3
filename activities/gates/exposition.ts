import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { z } from 'zod';
import { bearerTokenFrom, describeUrl, gateFetch, GateReadError } from './gate-fetch';

/** One sample of a scrape, named as PromQL names it (a histogram's `_count`, `_sum` and `_bucket` included). */
export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const parsedSchema = z.array(
  z.object({
    name: z.string(),
    metrics: z.array(
      z.object({
        value: z.string().optional(),
        labels: z.record(z.string(), z.string()).optional(),
      }),
    ),
  }),
);

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** The start time a process exposes (prom-client's and every official client's default metric). */
export const PROCESS_START_METRIC = 'process_start_time_seconds';

/** The unlabelled `process_start_time_seconds` of a scrape, if the target exposes it. */
export function processStartTime(samples: readonly ExpositionSample[]): number | undefined {
  const sample = samples.find((s) => s.name === PROCESS_START_METRIC && Object.keys(s.labels).length === 0);
  return sample && Number.isFinite(sample.value) ? sample.value : undefined;
}

/** The target restarted since the last scrape when its start time changed. */
export function restartedSince(
  state: { processStart?: number },
  samples: readonly ExpositionSample[],
): boolean {
  const start = processStartTime(samples);
  return state.processStart !== undefined && start !== undefined && start !== state.processStart;
}

/** A sample value of the text format: a float, `NaN`, `+Inf` or `-Inf`. */
function sampleValue(text: string): number {
  const trimmed = text.trim();
  if (/^[+]?inf$/i.test(trimmed)) return Infinity;
  if (/^-inf$/i.test(trimmed)) return -Infinity;
  if (/^nan$/i.test(trimmed)) return Number.NaN;
  const value = Number(trimmed);
  if (trimmed === '' || Number.isNaN(value))
    throw new GateReadError(`not a sample value: ${JSON.stringify(trimmed.slice(0, 40))}`);
  return value;
}

/**
 * Parses Prometheus text exposition (format 0.0.4) into samples with `parse-prometheus-text-format`, which
 * parses sample lines the way the official Python client does (escapes, NaN and ±Inf, timestamps).
 *
 * Its grouping of samples into histogram and summary families drops the `_count` and `_sum` of labelled
 * histograms (it keeps only unlabelled ones), and those are exactly what the gates read. So the metadata lines
 * (`# TYPE`, `# HELP`, comments) are left out before parsing: every sample then comes back under its own name
 * with all its labels, which is also how PromQL addresses it.
 *
 * @example
 * parseExposition('h_count{config_path="unified"} 3\n'); // [{ name: 'h_count', labels: { config_path: 'unified' }, value: 3 }]
 */
export function parseExposition(text: string): ExpositionSample[] {
  const samplesOnly = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n');
  let parsed: unknown;
  try {
    // The parser drops the last sample when the text does not end with a newline.
    parsed = parsePrometheusTextFormat(`${samplesOnly}\n`);
  } catch (error) {
    throw new GateReadError(
      `not Prometheus text exposition: ${String((error as Error).message).slice(0, 200)}`,
    );
  }
  const families = parsedSchema.safeParse(parsed);
  if (!families.success) throw new GateReadError('not Prometheus text exposition: unexpected parser output');
  const samples: ExpositionSample[] = [];
  for (const family of families.data) {
    for (const metric of family.metrics) {
      if (metric.value === undefined) continue;
      if (!METRIC_NAME.test(family.name)) {
        throw new GateReadError(
          `not Prometheus text exposition: bad metric name ${JSON.stringify(family.name.slice(0, 40))}`,
        );
      }
      samples.push({ name: family.name, labels: metric.labels ?? {}, value: sampleValue(metric.value) });
    }
  }
  return samples;
}

export interface ScrapeOptions {
  timeoutMs: number;
  bearerTokenEnv?: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
}

/** Scrapes an exposition endpoint; throws {@link GateReadError} naming the endpoint (without credentials). */
export async function scrapeExposition(
  endpoint: string,
  options: ScrapeOptions,
): Promise<ExpositionSample[]> {
  const what = `scrape of ${describeUrl(endpoint)}`;
  const response = await gateFetch(endpoint, {
    what,
    timeoutMs: options.timeoutMs,
    accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1',
    bearerToken: bearerTokenFrom(options.env, options.bearerTokenEnv),
    signal: options.signal,
  });
  if (response.status !== 200) throw new GateReadError(`${what} failed: HTTP ${response.status}`);
  if (/openmetrics|protobuf/i.test(response.contentType)) {
    throw new GateReadError(
      `${what} answered ${response.contentType}; only the Prometheus text format is read`,
    );
  }
  try {
    return parseExposition(response.body);
  } catch (error) {
    throw new GateReadError(`${what}: ${(error as Error).message}`);
  }
}

/** Scrapes the endpoint of a `compare` or `metrics` gate with the gate's timeout and bearer token. */
export function scrapeGateEndpoint(
  gate: { endpoint: string; timeout: number; bearerTokenEnv?: string | undefined },
  env: ScrapeOptions['env'],
  signal: AbortSignal | undefined,
): Promise<ExpositionSample[]> {
  return scrapeExposition(gate.endpoint, {
    timeoutMs: gate.timeout,
    bearerTokenEnv: gate.bearerTokenEnv,
    env,
    signal,
  });
}
