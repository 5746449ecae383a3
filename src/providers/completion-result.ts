/** Why generation stopped, in one vocabulary across providers; `other` covers reasons a provider adds later. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/** A provider's answer, reduced to what callers use regardless of provider. */
export interface CompletionResult {
  /** The generated text; text blocks are joined, thinking blocks left out. */
  text: string;
  /** The model that answered, as the provider reports it (it may name a dated snapshot of the one asked for). */
  model: string;
  finishReason: FinishReason;
  usage?: TokenUsage;
}
