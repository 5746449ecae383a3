import { z } from 'zod';
import type { ChatParams } from '../schemas/generation-params';
import type { CompletionResult, FinishReason } from './completion-result';
import { LlmProvider, type CompletionRequest } from './llm-provider';
import { postProviderJson } from './post-provider-json';
import { checkConnection, type CheckedConnection, type ProviderConnection } from './provider-connection';
import { ProviderError } from './provider-error';

export interface AnthropicProviderOptions extends ProviderConnection {
  /** `max_tokens` when the caller gives none (the Messages API requires one). Default 1024. */
  defaultMaxTokens?: number;
}

export const ANTHROPIC_VERSION = '2023-06-01';
const DEFAULT_MAX_TOKENS = 1024;
/** Anthropic's minimum thinking budget, used when thinking is on without `thinking_tokens`. */
const DEFAULT_THINKING_BUDGET = 1024;

const MessagesResponse = z.object({
  model: z.string(),
  content: z.array(z.object({ type: z.string(), text: z.string().optional() })),
  stop_reason: z.string().nullish(),
  usage: z.object({ input_tokens: z.number(), output_tokens: z.number() }).nullish(),
});

const FINISH_REASONS: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** OpenAI-shaped tool definitions (what the positional form carried) in Anthropic's shape; others as given. */
function toAnthropicTool(tool: unknown): unknown {
  if (typeof tool !== 'object' || tool === null) return tool;
  const { type, function: fn } = tool as { type?: unknown; function?: unknown };
  if (type !== 'function' || typeof fn !== 'object' || fn === null) return tool;
  const { name, description, parameters } = fn as {
    name?: unknown;
    description?: unknown;
    parameters?: unknown;
  };
  return { name, description, input_schema: parameters ?? { type: 'object', properties: {} } };
}

function toAnthropicToolChoice(
  choice: ChatParams['tool_choice'],
  parallel: boolean | undefined,
): Record<string, unknown> | undefined {
  const disable = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...disable };
  if (typeof choice === 'object') return { type: 'tool', name: choice.function.name, ...disable };
  if (choice === 'auto' || parallel === false) return { type: 'auto', ...disable };
  return undefined;
}

/**
 * Anthropic Messages API (`POST {baseUrl}/v1/messages`, `anthropic-version: 2023-06-01`).
 *
 * The body is built only from the canonical parameters: system messages and `system_prompt` are joined into
 * `system`; `max_tokens` is required by the API, so it defaults to `defaultMaxTokens` (1024), or to the
 * thinking budget plus that when thinking is on, because the budget must stay below `max_tokens`.
 * `thinking_mode` becomes `thinking: { type: 'enabled', budget_tokens }` (budget `thinking_tokens`, default
 * 1024). `tool` messages become `tool_result` blocks and need `tool_call_id`. The Messages API has no
 * equivalent for `frequency_penalty`, `presence_penalty`, `reasoning_effort` or `chain_of_thought`, so they are
 * not sent; answers arrive whole (`stream` is not sent, the API's default is false).
 *
 * @example
 * const anthropic = new AnthropicProvider({ baseUrl: 'https://api.anthropic.com', apiKey: process.env.ANTHROPIC_API_KEY! });
 * await anthropic.complete([{ role: 'user', content: 'Hi' }], 'claude-sonnet-4-5', { max_tokens: 256 });
 */
export class AnthropicProvider extends LlmProvider {
  readonly providerName = 'Anthropic';
  // A private field stays out of util.inspect and JSON.stringify, so logging the provider cannot leak the key.
  readonly #connection: CheckedConnection;
  readonly #defaultMaxTokens: number;

  constructor(options: AnthropicProviderOptions) {
    super();
    this.#connection = checkConnection('Anthropic', options);
    const defaultMaxTokens = options.defaultMaxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isInteger(defaultMaxTokens) || defaultMaxTokens < 1) {
      throw new TypeError(`Anthropic provider: defaultMaxTokens must be a positive whole number`);
    }
    this.#defaultMaxTokens = defaultMaxTokens;
  }

  protected buildBody(request: CompletionRequest): Record<string, unknown> {
    const { params, reasoning, tools } = request;
    const invalid = (message: string) => new ProviderError(this.providerName, 'invalid_request', message);

    const system = [
      ...(params.system_prompt ? [params.system_prompt] : []),
      ...request.messages.filter((message) => message.role === 'system').map((message) => message.content),
    ].join('\n\n');
    const messages = request.messages
      .filter((message) => message.role !== 'system')
      .map((message) => {
        if (message.role !== 'tool') return { role: message.role, content: message.content };
        if (message.tool_call_id === undefined) {
          throw invalid('Anthropic needs tool_call_id on tool messages (it becomes tool_use_id)');
        }
        return {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: message.tool_call_id, content: message.content }],
        };
      });
    if (messages.length === 0) throw invalid('Anthropic needs at least one user or assistant message');

    const thinkingBudget = reasoning.thinking_mode
      ? (reasoning.thinking_tokens ?? DEFAULT_THINKING_BUDGET)
      : 0;
    const maxTokens = params.max_tokens ?? thinkingBudget + this.#defaultMaxTokens;
    if (thinkingBudget > 0 && maxTokens <= thinkingBudget) {
      throw invalid(
        `Anthropic needs max_tokens (${maxTokens}) greater than thinking_tokens (${thinkingBudget}), ` +
          'which counts toward it',
      );
    }
    const hasTools = tools !== undefined && tools.length > 0;
    const stop = params.stop_sequences ?? [];
    // JSON.stringify leaves out undefined fields, so only what the caller set is sent.
    return {
      model: request.model,
      max_tokens: maxTokens,
      system: system.length > 0 ? system : undefined,
      messages,
      temperature: params.temperature,
      top_p: params.top_p,
      top_k: params.top_k,
      stop_sequences: stop.length > 0 ? stop : undefined,
      thinking: thinkingBudget > 0 ? { type: 'enabled', budget_tokens: thinkingBudget } : undefined,
      tools: hasTools ? tools.map(toAnthropicTool) : undefined,
      tool_choice: hasTools
        ? toAnthropicToolChoice(params.tool_choice, params.parallel_tool_calls)
        : undefined,
    };
  }

  protected override async send(request: CompletionRequest): Promise<CompletionResult> {
    const { baseUrl, apiKey, timeoutMs } = this.#connection;
    const answer = await postProviderJson({
      provider: this.providerName,
      url: `${baseUrl}/v1/messages`,
      headers: { 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION },
      body: this.buildBody(request),
      timeoutMs,
      apiKey,
      schema: MessagesResponse,
    });
    return {
      text: answer.content
        .filter((block) => block.type === 'text')
        .map((block) => block.text ?? '')
        .join(''),
      model: answer.model,
      finishReason: FINISH_REASONS[answer.stop_reason ?? ''] ?? 'other',
      ...(answer.usage
        ? { usage: { inputTokens: answer.usage.input_tokens, outputTokens: answer.usage.output_tokens } }
        : {}),
    };
  }
}
