import type { HttpGate } from '../../src/gates/gate-definition';
import { boundedDetail } from '../../src/gates/gate-measurement';
import { jsonConditionProblem } from '../../src/gates/json-condition';
import { bearerTokenFrom, describeUrl, gateFetch } from './gate-fetch';
import type { GateEnvironment, GateProvider, GateResult, MeasureContext } from './gate-provider';

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The `http` provider: one request; passes when the status is expected and every JSON condition holds.
 * Unlike the data-source gates, no answer is a failure: the response is what this gate judges. `value` is the
 * status code (null without an answer), `sample` 1.
 */
export function createHttpGate(gate: HttpGate, environment: GateEnvironment): GateProvider<null> {
  return {
    provider: 'http',
    async measure(_previous, context: MeasureContext = {}): Promise<GateResult<null>> {
      const result = (
        verdict: GateResult<null>['verdict'],
        detail: string,
        status: number | null,
      ): GateResult<null> => ({
        verdict,
        value: status,
        threshold: null,
        sample: status === null ? 0 : 1,
        detail: boundedDetail(detail),
        state: null,
      });
      const what = `${gate.method} ${describeUrl(gate.url)}`;
      let token: string | undefined;
      try {
        token = bearerTokenFrom(environment.env, gate.bearerTokenEnv);
      } catch (error) {
        return result('inconclusive', `could not measure: ${(error as Error).message}`, null);
      }
      let response: Awaited<ReturnType<typeof gateFetch>>;
      try {
        response = await gateFetch(gate.url, {
          what,
          timeoutMs: gate.timeout,
          method: gate.method,
          accept: gate.json.length > 0 ? 'application/json' : '*/*',
          bearerToken: token,
          signal: context.signal,
          maxBytes: MAX_BODY_BYTES,
        });
      } catch (error) {
        if (context.signal?.aborted) return result('inconclusive', `${what} cancelled`, null);
        return result('fail', (error as Error).message, null);
      }
      const took = `${Math.round(response.elapsedMs)} ms`;
      if (!gate.expectStatus.includes(response.status)) {
        return result(
          'fail',
          `${what} answered ${response.status} in ${took}, expected ${gate.expectStatus.join(' or ')}`,
          response.status,
        );
      }
      if (gate.json.length === 0)
        return result('pass', `${what} answered ${response.status} in ${took}`, response.status);
      let body: unknown;
      try {
        body = JSON.parse(response.body);
      } catch {
        return result(
          'fail',
          `${what} answered ${response.status} with a body that is not JSON`,
          response.status,
        );
      }
      const problems = gate.json.map((condition) => jsonConditionProblem(body, condition)).filter(Boolean);
      return problems.length === 0
        ? result(
            'pass',
            `${what} answered ${response.status} in ${took}; ${gate.json.length} JSON condition(s) hold`,
            response.status,
          )
        : result('fail', `${what} answered ${response.status}: ${problems.join('; ')}`, response.status);
    },
  };
}
