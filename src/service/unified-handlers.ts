import { z } from 'zod';
import { MODEL_CAPABILITIES, MODEL_PROVIDERS } from '../../db/fixtures/model-catalog-schema';
import { toCamelCase } from '../naming/to-snake-case';
import {
  formatZodIssues,
  GenerationParams,
  safeParseEitherCase,
  toCamelCaseJson,
} from '../schemas/generation-params';
import { writeCheckedConfig } from './checked-config-write';
import type { ConfigHandlers } from './config-handlers';
import { listModels, readConfig, readGenerationFields, type ConfigStoreDeps } from './config-store';
import { ServiceError } from './service-error';
import type { ServiceMetrics } from './service-metrics';

const modelQuery = z.strictObject({
  provider: z
    .enum(MODEL_PROVIDERS, { error: `provider must be one of ${MODEL_PROVIDERS.join(', ')}` })
    .optional(),
  capability: z
    .enum(MODEL_CAPABILITIES, { error: `capability must be one of ${MODEL_CAPABILITIES.join(', ')}` })
    .optional(),
});

/**
 * The unified configuration path: canonical keys (answered in camelCase whatever spelling was asked),
 * LLM parameters validated against their schemas on write, the model catalogue with filters, and generation
 * defaults validated field by field. JSON out is camelCase; input is accepted in either case.
 *
 * @example
 * const unified = createUnifiedHandlers(store, metrics);
 * const { body } = await unified.getConfig({ userId: 'some-user' }, 'max_tokens'); // body.key: 'maxTokens'
 */
export function createUnifiedHandlers(store: ConfigStoreDeps, metrics: ServiceMetrics): ConfigHandlers {
  return {
    path: 'unified',

    async getConfig({ userId }, rawKey) {
      const key = store.keys.parse(rawKey);
      const found = await readConfig(store, key, userId);
      if (!found) throw new ServiceError(404, `config key "${key.normalized}" is not set`);
      return { statusCode: 200, body: { key: key.camel, value: found.value, valueType: found.valueType } };
    },

    async putConfig(context, rawKey, body) {
      const { key, write, outcome } = await writeCheckedConfig(
        store,
        metrics,
        'unified',
        context,
        rawKey,
        body,
      );
      return {
        statusCode: outcome.created ? 201 : 200,
        body: {
          key: key.camel,
          value: outcome.shown,
          valueType: outcome.storedType,
          scope: write.scope,
          created: outcome.created,
          changed: outcome.changed,
        },
      };
    },

    async listModels(_context, query) {
      const parsed = safeParseEitherCase(modelQuery, query ?? {});
      if (!parsed.success) {
        throw new ServiceError(400, `invalid query: ${formatZodIssues(parsed.error, 'query').join('; ')}`);
      }
      const { provider, capability } = parsed.data;
      const models = (await listModels(store)).filter(
        (model) =>
          (provider === undefined || model.provider === provider) &&
          (capability === undefined || model.capabilities.includes(capability)),
      );
      return { statusCode: 200, body: { models: toCamelCaseJson(models), count: models.length } };
    },

    async generationDefaults({ userId }) {
      const values = await readGenerationFields(store, userId);
      const params: Record<string, unknown> = {};
      const invalid: string[] = [];
      for (const [field, found] of values) {
        if (found === undefined) continue;
        // Field by field: one bad stored value is reported, and the others are still served.
        const result = GenerationParams.shape[field].safeParse(found.value);
        if (result.success) params[field] = result.data;
        else invalid.push(...result.error.issues.map((issue) => `${toCamelCase(field)}: ${issue.message}`));
      }
      return { statusCode: 200, body: { params: toCamelCaseJson(params), invalid } };
    },
  };
}
