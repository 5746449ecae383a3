import { z } from 'zod';
import type { CompletionResult, FinishReason } from './completion-result';
import { LlmProvider, type CompletionRequest } from './llm-provider';
import { postProviderJson } from './post-provider-json';
import { checkConnection, type CheckedConnection, type ProviderConnection } from './provider-connection';
import { ProviderError } from './provider-error';

export interface OpenAiProviderOptions extends ProviderConnection {
  /**
   * Body field carrying `max_tokens`. OpenAI replaced `max_tokens` with `max_completion_tokens`, and its
   * reasoning models (o-series, gpt-5) reject the old name, so the new one is the default. OpenAI-compatible
   * servers that only know the old name (older vLLM, Ollama, older Azure API versions) set `'max_tokens'`.
   */
  maxTokensField?: 'max_completion_tokens' | 'max_tokens';
}

/** OpenAI's documented limit for `stop`. */
const MAX_STOP_SEQUENCES = 4;

const ChatCompletionResponse = z.object({
  model: z.string(),
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullish(),
});

const FINISH_REASONS: Record<string, FinishReason> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  content_filter: 'content_filter',
};

/**
 * OpenAI Chat Completions (`POST {baseUrl}/v1/chat/completions`), also fit for OpenAI-compatible servers.
 *
 * The body is built only from the canonical parameters: `system_prompt` becomes a leading system message,
 * `stop_sequences` becomes `stop`, `reasoning_effort` is sent as is, and `tool_choice` /
 * `parallel_tool_calls` go out only with tools (OpenAI rejects them otherwise). Chat Completions has no
 * equivalent for `top_k`, `thinking_mode`, `thinking_tokens` or `chain_of_thought`, so they are not sent;
 * more than 4 stop sequences is an `invalid_request` error, not a silent cut. Answers arrive whole:
 * `stream: true` is accepted for compatibility but the request always says `stream: false`.
 *
 * @example
 * const openai = new OpenAiProvider({ baseUrl: 'https://api.openai.com', apiKey: process.env.OPENAI_API_KEY! });
 * const { text } = await openai.complete([{ role: 'user', content: 'Hi' }], 'gpt-4o-mini', { max_tokens: 64 });
 */
export class OpenAiProvider extends LlmProvider {
  readonly providerName = 'OpenAI';
  // A private field stays out of util.inspect and JSON.stringify, so logging the provider cannot leak the key.
  readonly #connection: CheckedConnection;
  readonly #maxTokensField: 'max_completion_tokens' | 'max_tokens';

  constructor(options: OpenAiProviderOptions) {
    super();
    this.#connection = checkConnection('OpenAI', options);
    this.#maxTokensField = options.maxTokensField ?? 'max_completion_tokens';
  }

  protected buildBody(request: CompletionRequest): Record<string, unknown> {
    const { params, reasoning, tools } = request;
    const stop = params.stop_sequences ?? [];
    if (stop.length > MAX_STOP_SEQUENCES) {
      throw new ProviderError(
        this.providerName,
        'invalid_request',
        `OpenAI accepts at most ${MAX_STOP_SEQUENCES} stop sequences, got ${stop.length}`,
      );
    }
    const hasTools = tools !== undefined && tools.length > 0;
    const messages = [
      ...(params.system_prompt ? [{ role: 'system', content: params.system_prompt }] : []),
      ...request.messages.map(({ role, content, tool_call_id }) =>
        tool_call_id === undefined ? { role, content } : { role, content, tool_call_id },
      ),
    ];
    // JSON.stringify leaves out undefined fields, so only what the caller set is sent.
    return {
      model: request.model,
      messages,
      temperature: params.temperature,
      [this.#maxTokensField]: params.max_tokens,
      top_p: params.top_p,
      frequency_penalty: params.frequency_penalty,
      presence_penalty: params.presence_penalty,
      stop: stop.length > 0 ? stop : undefined,
      stream: false,
      reasoning_effort: reasoning.reasoning_effort,
      tools: hasTools ? tools : undefined,
      tool_choice: hasTools ? params.tool_choice : undefined,
      parallel_tool_calls: hasTools ? params.parallel_tool_calls : undefined,
    };
  }

  protected override async send(request: CompletionRequest): Promise<CompletionResult> {
    const { baseUrl, apiKey, timeoutMs } = this.#connection;
    const answer = await postProviderJson({
      provider: this.providerName,
      url: `${baseUrl}/v1/chat/completions`,
      headers: { authorization: `Bearer ${apiKey}` },
      body: this.buildBody(request),
      timeoutMs,
      apiKey,
      schema: ChatCompletionResponse,
    });
    const [choice] = answer.choices;
    const content = choice?.message.content;
    const refusal = choice?.message.refusal;
    // A refusal comes back as finish_reason "stop" with the explanation outside `content`.
    const refused = (content === null || content === undefined) && typeof refusal === 'string';
    return {
      text: content ?? refusal ?? '',
      model: answer.model,
      finishReason: refused ? 'content_filter' : (FINISH_REASONS[choice?.finish_reason ?? ''] ?? 'other'),
      ...(answer.usage
        ? { usage: { inputTokens: answer.usage.prompt_tokens, outputTokens: answer.usage.completion_tokens } }
        : {}),
    };
  }
}
