export const POSITIONAL_COMPLETE_DEPRECATION_CODE = 'UCR_DEP_POSITIONAL_COMPLETE';

const MESSAGE =
  'LlmProvider.complete(messages, model, temperature, maxTokens, stream, tools) is deprecated; call ' +
  'complete(messages, model, generationParams, reasoningParams?) instead, e.g. ' +
  'complete(messages, model, { temperature: 0.2, max_tokens: 256, stream: false }).';

// The one module-level state allowed (SPEC §6): Node's convention is one deprecation warning per process.
let warned = false;

/** Emits the deprecation warning the first time in this process; later calls do nothing. */
export function warnPositionalCompleteOnce(): void {
  if (warned) return;
  warned = true;
  process.emitWarning(MESSAGE, { type: 'DeprecationWarning', code: POSITIONAL_COMPLETE_DEPRECATION_CODE });
}

/** Lets a test observe the first warning again. */
export function resetDeprecationWarningForTests(): void {
  warned = false;
}
