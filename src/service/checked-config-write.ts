import type { ConfigPath } from '../flags/flag-decision';
import { requireWriteScope } from './caller-auth';
import type { RequestContext } from './config-handlers';
import { writeConfig, type ConfigStoreDeps, type WriteOutcome } from './config-store';
import { parseConfigWriteBody, type ConfigWrite } from './config-write-body';
import { llmFieldProblems } from './llm-field-rules';
import type { RequestKey } from './request-key';
import { ServiceError } from './service-error';
import type { ServiceMetrics } from './service-metrics';

export interface CheckedWrite {
  key: RequestKey;
  write: ConfigWrite;
  outcome: WriteOutcome;
}

/**
 * A `PUT /api/config/:key` as both paths run it: the body parsed, the caller's scope checked against what the
 * body says it writes, LLM parameters checked (both paths share the table, so neither may store a value the
 * other would refuse), then the write, counted under the path that served it. Each path shapes its own answer
 * from the result. Bad input is refused before anything is written.
 *
 * @example
 * const { key, outcome } = await writeCheckedConfig(store, metrics, 'unified', context, rawKey, body);
 */
export async function writeCheckedConfig(
  store: ConfigStoreDeps,
  metrics: ServiceMetrics,
  path: ConfigPath,
  { userId, caller }: RequestContext,
  rawKey: string,
  body: unknown,
): Promise<CheckedWrite> {
  const key = store.keys.parse(rawKey);
  const write = parseConfigWriteBody(body, userId);
  requireWriteScope(caller, write.scope);
  const problems = llmFieldProblems(key.normalized, write.value, write.valueType);
  if (problems.length > 0) throw new ServiceError(400, `invalid value: ${problems.join('; ')}`);
  const outcome = await writeConfig(store, key, userId, write);
  if (outcome.changed) metrics.configChanged(path, outcome.storedType);
  return { key, write, outcome };
}
