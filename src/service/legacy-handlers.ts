import { toCamelCase } from '../naming/to-snake-case';
import { writeCheckedConfig } from './checked-config-write';
import type { ConfigHandlers } from './config-handlers';
import { listModels, readConfig, readGenerationFields, type ConfigStoreDeps } from './config-store';
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
 * const { body } = await legacy.getConfig({ userId: 'some-user' }, 'maxTokens'); // body.key: 'maxTokens', as spelt
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

    async putConfig(context, rawKey, body) {
      const { outcome } = await writeCheckedConfig(store, metrics, 'legacy', context, rawKey, body);
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
      const values = await readGenerationFields(store, userId);
      const params: Record<string, unknown> = {};
      for (const [field, found] of values) if (found !== undefined) params[toCamelCase(field)] = found.value;
      return { statusCode: 200, body: params };
    },
  };
}
