import { toCamelCase } from '../naming/to-snake-case';
import { KNOWN_GENERATION_FIELDS } from '../schemas/generation-params';
import { requireWriteScope } from './caller-auth';
import type { ConfigHandlers } from './config-handlers';
import { listModels, readConfig, writeConfig, type ConfigStoreDeps } from './config-store';
import { parseConfigWriteBody } from './config-write-body';
import { llmFieldProblems } from './llm-field-rules';
import { ServiceError } from './service-error';
import type { ServiceMetrics } from './service-metrics';

/**
 * The legacy configuration path, as clients knew it before the rollout: the key is echoed exactly as the
 * client spelt it (`maxTokens` stays `maxTokens`), models come as a bare list without catalogue metadata, and
 * generation defaults as a flat object without checks. Writes of LLM parameters are checked exactly as on the
 * unified path: both paths share the table, so a value stored here is read by unified users too, and nothing
 * they would refuse (a temperature of 7, or "hot") may be stored.
 *
 * It reads and writes through the same normalized lookup as the unified path: legacy clients keep working
 * before, during and after the key migration (their `maxTokens` finds the row now named `max_tokens`), and a
 * user moved back by a rollback sees every value written meanwhile.
 *
 * @example
 * const legacy = createLegacyHandlers(store, metrics);
 * await legacy.getConfig({ userId: 'user-7' }, 'maxTokens'); // { statusCode: 200, body: { key: 'maxTokens', value: 2048, valueType: 'number' } }
 */
export function createLegacyHandlers(store: ConfigStoreDeps, metrics: ServiceMetrics): ConfigHandlers {
  return {
    path: 'legacy',

    async getConfig({ userId }, rawKey) {
      const key = store.keys.parse(rawKey);
      const found = await readConfig(store, key, userId);
      if (!found) throw new ServiceError(404, `config key "${rawKey}" is not set`);
      return { statusCode: 200, body: { key: rawKey, value: found.value, valueType: found.valueType } };
    },

    async putConfig({ userId, caller }, rawKey, body) {
      const key = store.keys.parse(rawKey);
      const write = parseConfigWriteBody(body, userId);
      requireWriteScope(caller, write.scope);
      const problems = llmFieldProblems(key.normalized, write.value, write.valueType);
      if (problems.length > 0) throw new ServiceError(400, `invalid value: ${problems.join('; ')}`);
      const outcome = await writeConfig(store, key, userId, write);
      if (outcome.changed) metrics.configChanged('legacy', outcome.storedType);
      return { statusCode: 200, body: { key: rawKey, value: outcome.shown, valueType: outcome.storedType } };
    },

    async listModels() {
      const models = await listModels(store);
      return {
        statusCode: 200,
        body: models.map((model) => ({
          provider: model.provider,
          modelId: model.model_id,
          displayName: model.display_name,
          contextWindow: model.context_window,
          maxOutputTokens: model.max_output_tokens,
        })),
      };
    },

    async generationDefaults({ userId }) {
      const values = await Promise.all(
        KNOWN_GENERATION_FIELDS.map(
          async (field) => [field, await readConfig(store, store.keys.parse(field), userId)] as const,
        ),
      );
      const params: Record<string, unknown> = {};
      for (const [field, found] of values) if (found !== undefined) params[toCamelCase(field)] = found.value;
      return { statusCode: 200, body: params };
    },
  };
}
