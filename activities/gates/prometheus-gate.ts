import { z } from 'zod';
import type { PrometheusGate } from '../../src/gates/gate-definition';
import { bearerTokenFrom, describeUrl, gateFetch, GateReadError } from './gate-fetch';
import { gateResult, judgeThreshold } from './gate-provider';
import type { GateEnvironment, GateProvider, GateResult, MeasureContext } from './gate-provider';

const sampleValue = z.tuple([z.number(), z.string()]);
const responseSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.discriminatedUnion('resultType', [
      z.object({ resultType: z.literal('scalar'), result: sampleValue }),
      z.object({
        resultType: z.literal('vector'),
        result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: sampleValue })),
      }),
      z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
      z.object({ resultType: z.literal('string'), result: z.unknown() }),
    ]),
  }),
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string().optional() }),
]);

/** Prometheus writes sample values as strings: floats, "NaN", "+Inf", "-Inf". */
function parseValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** The single number an instant query returned, or why there is none. */
async function instantValue(
  gate: PrometheusGate,
  query: string,
  environment: GateEnvironment,
  signal: AbortSignal | undefined,
): Promise<{ value: number } | { none: string }> {
  const url = new URL('api/v1/query', gate.url.endsWith('/') ? gate.url : `${gate.url}/`);
  url.searchParams.set('query', query);
  url.searchParams.set('timeout', `${Math.max(1, Math.floor(gate.timeout / 1000))}s`);
  const what = `Prometheus query at ${describeUrl(url)}`;
  const response = await gateFetch(url.toString(), {
    what,
    timeoutMs: gate.timeout,
    accept: 'application/json',
    bearerToken: bearerTokenFrom(environment.env, gate.bearerTokenEnv),
    signal,
  });
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    throw new GateReadError(`${what} failed: HTTP ${response.status} with a body that is not JSON`);
  }
  const parsed = responseSchema.safeParse(json);
  if (!parsed.success) throw new GateReadError(`${what} failed: HTTP ${response.status}, unexpected answer`);
  const body = parsed.data;
  if (body.status === 'error') {
    // Prometheus's own message (a PromQL parse error, a timeout) says what to fix; it holds no secret.
    throw new GateReadError(
      `${what} failed: ${body.errorType ?? 'error'}: ${(body.error ?? '').slice(0, 200)}`,
    );
  }
  const data = body.data;
  if (data.resultType === 'scalar') return { value: parseValue(data.result[1]) };
  if (data.resultType !== 'vector') {
    return { none: `the query returned a ${data.resultType}; an instant query must return one number` };
  }
  if (data.result.length === 0) return { none: 'the query returned no data' };
  if (data.result.length > 1) {
    return { none: `the query returned ${data.result.length} series; aggregate it to one (e.g. sum(...))` };
  }
  return { value: parseValue((data.result[0] as { value: [number, string] }).value[1]) };
}

/**
 * The `prometheus` provider: one instant PromQL query over the HTTP API (`/api/v1/query`) against the
 * threshold; with `sampleQuery`, a second query gives the sample size checked against `minSample`. No data,
 * several series or NaN are inconclusive, as is a server that cannot be read.
 */
export function createPrometheusGate(gate: PrometheusGate, environment: GateEnvironment): GateProvider<null> {
  return {
    provider: 'prometheus',
    async measure(_previous, context: MeasureContext = {}): Promise<GateResult<null>> {
      const result = gateResult(gate.threshold);
      try {
        let sample: number | null = null;
        if (gate.sampleQuery !== undefined && gate.minSample !== undefined) {
          const answer = await instantValue(gate, gate.sampleQuery, environment, context.signal);
          if ('none' in answer) return result('inconclusive', `sample query: ${answer.none}`);
          sample = answer.value;
          if (!(sample >= gate.minSample)) {
            return result(
              'inconclusive',
              `sample ${sample} is below the minimum ${gate.minSample}`,
              null,
              sample,
            );
          }
        }
        const answer = await instantValue(gate, gate.query, environment, context.signal);
        if ('none' in answer) return result('inconclusive', answer.none, null, sample);
        const { value } = answer;
        if (Number.isNaN(value))
          return result('inconclusive', 'the query returned NaN (no data to divide?)', null, sample);
        const { verdict, detail } = judgeThreshold(gate, value);
        return result(verdict, detail, value, sample);
      } catch (error) {
        return result('inconclusive', `could not measure: ${(error as Error).message}`);
      }
    },
  };
}
