import {
  CompletionParams,
  InvalidParamsError,
  ReasoningParams,
  formatZodIssues,
} from '../schemas/generation-params';
import { ChatMessages, type ChatMessage } from './chat-message';
import { resolveCompleteArguments } from './complete-arguments';
import type { CompletionResult } from './completion-result';
import { warnPositionalCompleteOnce } from './positional-complete-deprecation';

export type { ChatMessage } from './chat-message';
export type { CompletionResult, FinishReason, TokenUsage } from './completion-result';
export type { CompletionParams, ReasoningParams } from '../schemas/generation-params';

/** What an adapter receives: validated, canonical, and the same whichever call form the caller used. */
export interface CompletionRequest {
  messages: ChatMessage[];
  model: string;
  params: CompletionParams;
  reasoning: ReasoningParams;
  /**
   * Tool definitions from the deprecated positional form, passed through as given (OpenAI's shape). The
   * current form has no tools argument (SPEC §6).
   */
  tools: readonly unknown[] | undefined;
}

/**
 * The provider interface services depend on (SPEC §6): `complete` in both its call forms. Taken from the
 * base class so the two overloads are written once.
 */
export type CompletionProvider = Pick<LlmProvider, 'complete'>;

function validate(
  messages: unknown,
  model: unknown,
  params: unknown,
  reasoning: unknown,
  tools: readonly unknown[] | undefined,
): CompletionRequest {
  const parsedMessages = ChatMessages.safeParse(messages);
  if (!parsedMessages.success) {
    throw new TypeError(
      `complete(): invalid messages: ${formatZodIssues(parsedMessages.error, 'messages').join('; ')}`,
    );
  }
  if (typeof model !== 'string' || model.trim().length === 0) {
    throw new TypeError('complete(): model must be a non-empty string');
  }
  // Code passes the canonical snake_case form (SPEC §4); camelCase input is converted at the API boundary.
  const parsedParams = CompletionParams.safeParse(params);
  if (!parsedParams.success) throw new InvalidParamsError('generationParams', parsedParams.error);
  const parsedReasoning = ReasoningParams.safeParse(reasoning);
  if (!parsedReasoning.success) throw new InvalidParamsError('reasoningParams', parsedReasoning.error);
  return {
    messages: parsedMessages.data,
    model,
    params: parsedParams.data,
    reasoning: parsedReasoning.data,
    tools,
  };
}

/**
 * Base of every provider adapter. `complete` accepts the current call form and, through a shim chosen by
 * argument shape, the deprecated positional one (warning once per process); either way it validates
 * everything and hands the adapter one canonical `CompletionRequest`. Invalid input rejects before any
 * request is made: a `TypeError` for a call shape or messages, an `InvalidParamsError` for parameters.
 *
 * @example
 * const provider: LlmProvider = new OpenAiProvider({ baseUrl: 'https://api.openai.com', apiKey });
 * await provider.complete([{ role: 'user', content: 'Hi' }], 'gpt-4o', { temperature: 0.2, max_tokens: 64 });
 * await provider.complete([{ role: 'user', content: 'Hi' }], 'gpt-4o', 0.2, 64); // deprecated; same request
 */
export abstract class LlmProvider {
  /** Names the provider in errors, e.g. "OpenAI". */
  abstract readonly providerName: string;

  complete(
    messages: ChatMessage[],
    model: string,
    generationParams: CompletionParams,
    reasoningParams?: ReasoningParams,
  ): Promise<CompletionResult>;
  /** @deprecated Use `complete(messages, model, generationParams, reasoningParams?)`. Warns once per process. */
  complete(
    messages: ChatMessage[],
    model: string,
    temperature?: number | null,
    maxTokens?: number | null,
    stream?: boolean | null,
    tools?: readonly unknown[] | null,
  ): Promise<CompletionResult>;
  async complete(...args: unknown[]): Promise<CompletionResult> {
    const call = resolveCompleteArguments(args);
    if (call.form === 'positional') {
      warnPositionalCompleteOnce();
      return this.send(validate(call.messages, call.model, call.params, {}, call.tools));
    }
    return this.send(validate(call.messages, call.model, call.params, call.reasoning, undefined));
  }

  /** Builds the provider's request from the canonical parameters, sends it, and maps the answer. */
  protected abstract send(request: CompletionRequest): Promise<CompletionResult>;
}
