import { z } from 'zod';
import { toCamelCase, toSnakeCase } from '../naming/to-snake-case';
import { isPlainObject, sameJson, showJson } from '../json/json-values';

/**
 * LLM parameters (SPEC §4): the canonical form is snake_case and strict, so a misspelt field is an error
 * instead of a silently ignored setting. Input from APIs and legacy templates may use either spelling and goes
 * through the `parse*` helpers; API output goes through `toCamelCaseJson`.
 *
 * Ranges are the parameters' documented domains across providers (temperature 0–2, penalties −2–2, thinking
 * budget 1,024–128,000 tokens); limits that depend on the model, such as its largest output, are the
 * provider's to enforce. Choices where providers differ:
 * - `top_p` is (0, 1]: a nucleus of zero probability mass is undefined (several servers reject 0 outright);
 *   greedy decoding is `temperature: 0`.
 * - `stop_sequences` allows 16 entries; OpenAI takes at most 4, which its adapter checks before sending.
 * - `max_tokens` ≤ 1,000,000 and `top_k` ≤ 1,000 are sanity bounds that catch unit mistakes, not model limits.
 *
 * Pure and free of Node built-ins so workflow code may import it.
 */

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'object' ? 'an object' : typeof value;
}

const number = (min: number, max: number) =>
  z
    .number({ error: (issue) => `must be a number, got ${describeValue(issue.input)}` })
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

const wholeNumber = (min: number, max: number) => number(min, max).int('must be a whole number');

/** A strict object whose wrong-type message reads like the field messages. */
const object = <Shape extends z.core.$ZodLooseShape>(shape: Shape) =>
  z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'invalid_type' ? `must be an object, got ${describeValue(issue.input)}` : undefined,
  });

const boolean = () =>
  z.boolean({ error: (issue) => `must be true or false, got ${describeValue(issue.input)}` });

const stopSequences = z
  .array(
    z
      .string({ error: (issue) => `must be a string, got ${describeValue(issue.input)}` })
      .min(1, 'must not be empty'),
    { error: (issue) => `must be a list of strings, got ${describeValue(issue.input)}` },
  )
  .max(16, 'must have at most 16 entries');

/** OpenAI's rule for function names; Anthropic's tool names follow the same one. */
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const toolChoice = z.union(
  [
    z.enum(['auto', 'none', 'required']),
    z.strictObject({
      type: z.literal('function'),
      function: z.strictObject({
        name: z.string().regex(FUNCTION_NAME, 'must be 1 to 64 letters, digits, "_" or "-"'),
      }),
    }),
  ],
  { error: 'must be "auto", "none", "required" or { type: "function", function: { name } }' },
);

const generationShape = {
  temperature: number(0, 2).optional(),
  max_tokens: wholeNumber(1, 1_000_000).optional(),
  top_p: z
    .number({ error: (issue) => `must be a number, got ${describeValue(issue.input)}` })
    .gt(0, 'must be greater than 0 (use temperature 0 for greedy decoding)')
    .max(1, 'must be at most 1')
    .optional(),
  top_k: wholeNumber(1, 1000).optional(),
  frequency_penalty: number(-2, 2).optional(),
  presence_penalty: number(-2, 2).optional(),
  stop_sequences: stopSequences.optional(),
};

const chatShape = {
  system_prompt: z
    .string({ error: (issue) => `must be a string, got ${describeValue(issue.input)}` })
    .max(1_000_000, 'must be at most 1000000 characters')
    .optional(),
  stop_sequences: stopSequences.optional(),
  stream: boolean().optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: boolean().optional(),
};

const reasoningShape = {
  reasoning_effort: z
    .enum(['minimal', 'low', 'medium', 'high'], {
      error: (issue) => `must be "minimal", "low", "medium" or "high", got ${describeValue(issue.input)}`,
    })
    .optional(),
  thinking_mode: boolean().optional(),
  thinking_tokens: wholeNumber(1024, 128_000).optional(),
  chain_of_thought: boolean().optional(),
};

/** A thinking budget without thinking switched on is a mistake the caller should hear about, not a no-op. */
function requireThinkingModeForBudget(
  value: { thinking_mode?: boolean | undefined; thinking_tokens?: number | undefined },
  ctx: z.RefinementCtx,
): void {
  if (value.thinking_tokens !== undefined && value.thinking_mode !== true) {
    ctx.addIssue({
      code: 'custom',
      path: ['thinking_tokens'],
      message: 'requires thinking_mode: true (set it, or remove thinking_tokens)',
    });
  }
}

/** Sampling parameters, canonical snake_case. */
export const GenerationParams = object(generationShape);
export type GenerationParams = z.infer<typeof GenerationParams>;

/** Conversation and tool-use parameters, canonical snake_case. */
export const ChatParams = object(chatShape);
export type ChatParams = z.infer<typeof ChatParams>;

/** Reasoning parameters, canonical snake_case; `thinking_tokens` requires `thinking_mode: true`. */
export const ReasoningParams = object(reasoningShape).superRefine(requireThinkingModeForBudget);
export type ReasoningParams = z.infer<typeof ReasoningParams>;

/** What `LlmProvider.complete` takes as its third argument: sampling plus chat parameters. */
export const CompletionParams = object({ ...generationShape, ...chatShape });
export type CompletionParams = z.infer<typeof CompletionParams>;

/** Every LLM parameter in one object, the shape of a prompt template's `llm_preferences`. */
export const LlmParams = object({ ...generationShape, ...chatShape, ...reasoningShape }).superRefine(
  requireThinkingModeForBudget,
);
export type LlmParams = z.infer<typeof LlmParams>;

/** The snake_case names of `GenerationParams`, e.g. for a migration deciding which legacy fields it knows. */
export const KNOWN_GENERATION_FIELDS: readonly (keyof GenerationParams)[] = Object.freeze(
  Object.keys(generationShape) as (keyof GenerationParams)[],
);
export const KNOWN_CHAT_FIELDS: readonly (keyof ChatParams)[] = Object.freeze(
  Object.keys(chatShape) as (keyof ChatParams)[],
);
export const KNOWN_REASONING_FIELDS: readonly (keyof ReasoningParams)[] = Object.freeze(
  Object.keys(reasoningShape) as (keyof ReasoningParams)[],
);
/** Every field of `LlmParams` (generation, chat and reasoning), each once. */
export const KNOWN_LLM_PARAM_FIELDS: readonly (keyof LlmParams)[] = Object.freeze([
  ...new Set([...KNOWN_GENERATION_FIELDS, ...KNOWN_CHAT_FIELDS, ...KNOWN_REASONING_FIELDS]),
]);

interface RenamedKeys {
  output: Record<string, unknown>;
  /** One message per output key that two or more input spellings gave different values. */
  conflicts: { key: string; message: string }[];
}

/** Renames the top-level keys; spellings of one field agreeing on the value collapse, disagreeing ones don't. */
function renameKeys(input: Record<string, unknown>, rename: (key: string) => string): RenamedKeys {
  const groups = new Map<string, [string, unknown][]>();
  for (const [key, value] of Object.entries(input)) {
    const renamed = rename(key);
    const group = groups.get(renamed);
    if (group) group.push([key, value]);
    else groups.set(renamed, [[key, value]]);
  }
  const entries: [string, unknown][] = [];
  const conflicts: RenamedKeys['conflicts'] = [];
  for (const [key, group] of groups) {
    const [first, ...others] = group as [[string, unknown], ...[string, unknown][]];
    if (others.every(([, value]) => sameJson(value, first[1]))) {
      entries.push([key, first[1]]);
    } else {
      const spellings = group.map(([spelling, value]) => `${spelling} (${showJson(value)})`).join(' and ');
      conflicts.push({ key, message: `given as ${spellings} with different values; give one spelling` });
    }
  }
  // fromEntries defines own properties, so a "__proto__" key from untrusted JSON stays an ordinary key.
  return { output: Object.fromEntries(entries), conflicts };
}

/** An unknown field is reported the way the caller spelt it, not as its normalized form. */
function originalSpelling(input: Record<string, unknown>, snakeKey: string): string {
  return Object.keys(input).find((key) => toSnakeCase(key) === snakeKey) ?? snakeKey;
}

/**
 * Validates input whose top-level keys may be camelCase, snake_case or a mix, against a canonical snake_case
 * schema. Two spellings of one field with different values are an error naming both; every problem is
 * reported in one `ZodError`, with paths in snake_case.
 *
 * @example
 * safeParseEitherCase(GenerationParams, { maxTokens: 256, top_p: 0.9 }); // { success: true, data: { max_tokens: 256, top_p: 0.9 } }
 */
export function safeParseEitherCase<T>(schema: z.ZodType<T>, input: unknown): z.ZodSafeParseResult<T> {
  if (!isPlainObject(input)) return schema.safeParse(input);
  const { output, conflicts } = renameKeys(input, toSnakeCase);
  const result = schema.safeParse(output);
  if (result.success && conflicts.length === 0) return result;
  const conflictIssues = conflicts.map(({ key, message }): z.core.$ZodIssue => ({
    code: 'custom',
    path: [key],
    message,
  }));
  const issues = (result.error?.issues ?? []).map((issue) =>
    issue.code === 'unrecognized_keys' && issue.path.length === 0
      ? { ...issue, keys: issue.keys.map((key) => originalSpelling(input, key)) }
      : issue,
  );
  // zod's own errors carry the output type only as a phantom; this one describes the same parse.
  const error = new z.ZodError([...conflictIssues, ...issues]) as z.ZodError<T>;
  return { success: false, error };
}

/** Thrown by the `parse*` helpers; `issues` holds the lines of `formatZodIssues`. */
export class InvalidParamsError extends Error {
  readonly issues: string[];

  constructor(
    what: string,
    readonly zodError: z.ZodError,
  ) {
    const issues = formatZodIssues(zodError, 'input');
    super(`invalid ${what}: ${issues.join('; ')}`);
    this.name = 'InvalidParamsError';
    this.issues = issues;
  }
}

function parseEitherCase<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = safeParseEitherCase(schema, input);
  if (!result.success) throw new InvalidParamsError(what, result.error);
  return result.data;
}

/**
 * Parses generation parameters given in camelCase, snake_case or both; returns the canonical snake_case form.
 * Throws `InvalidParamsError` listing every problem.
 *
 * @example
 * parseGenerationParams({ maxTokens: 256, temperature: 0.2 }); // { max_tokens: 256, temperature: 0.2 }
 * parseGenerationParams({ maxTokens: 256, max_tokens: 512 }); // throws: names maxTokens and max_tokens
 */
export function parseGenerationParams(input: unknown): GenerationParams {
  return parseEitherCase(GenerationParams, input, 'generation params');
}

/** `parseGenerationParams` for `ChatParams`. @example parseChatParams({ systemPrompt: 'Be brief.' }); */
export function parseChatParams(input: unknown): ChatParams {
  return parseEitherCase(ChatParams, input, 'chat params');
}

/** `parseGenerationParams` for `ReasoningParams`. @example parseReasoningParams({ reasoningEffort: 'low' }); */
export function parseReasoningParams(input: unknown): ReasoningParams {
  return parseEitherCase(ReasoningParams, input, 'reasoning params');
}

/** `parseGenerationParams` for `CompletionParams`. @example parseCompletionParams({ maxTokens: 64, stream: false }); */
export function parseCompletionParams(input: unknown): CompletionParams {
  return parseEitherCase(CompletionParams, input, 'completion params');
}

/** `parseGenerationParams` for all LLM parameters at once, e.g. a template's `llmPreferences`. */
export function parseLlmParams(input: unknown): LlmParams {
  return parseEitherCase(LlmParams, input, 'LLM params');
}

function convertKeysDeep(value: unknown, rename: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((item) => convertKeysDeep(item, rename));
  if (!isPlainObject(value)) return value;
  const { output, conflicts } = renameKeys(value, rename);
  const [conflict] = conflicts;
  if (conflict) throw new Error(`cannot rename keys: "${conflict.key}" ${conflict.message}`);
  return Object.fromEntries(
    Object.entries(output).map(([key, item]) => [key, convertKeysDeep(item, rename)] as const),
  );
}

/**
 * Deep copy with every object key turned to camelCase, for API responses; values (strings included) are left
 * alone. Throws if two keys would collide with different values.
 *
 * @example
 * toCamelCaseJson({ max_tokens: 256, stop_sequences: ['END_OF_TEXT'] }); // { maxTokens: 256, stopSequences: ['END_OF_TEXT'] }
 */
export function toCamelCaseJson(value: unknown): unknown {
  return convertKeysDeep(value, toCamelCase);
}

/**
 * Deep copy with every object key normalized to snake_case, values left alone; the inverse of
 * `toCamelCaseJson` on snake_case input. Throws if two keys would collide with different values.
 *
 * @example
 * fromCamelCaseJson({ maxTokens: 256, toolChoice: 'auto' }); // { max_tokens: 256, tool_choice: 'auto' }
 */
export function fromCamelCaseJson(value: unknown): unknown {
  return convertKeysDeep(value, toSnakeCase);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((segment, index) =>
      typeof segment === 'number' ? `[${segment}]` : `${index === 0 ? '' : '.'}${String(segment)}`,
    )
    .join('');
}

/**
 * One readable line per problem, `path: message`, for CLI output, API error bodies and quarantine records.
 * Issues at the top level are labelled with `rootLabel`.
 *
 * @example
 * formatZodIssues(GenerationParams.safeParse({ max_tokens: 0, maxTokens: 1 }).error!);
 * // ['max_tokens: must be at least 1', 'maxTokens: unknown field (did you mean max_tokens?)']
 */
export function formatZodIssues(error: z.ZodError, rootLabel = 'value'): string[] {
  return error.issues.flatMap((issue) => {
    // A path starting at a list index ("[0].role") reads better under the root's name ("messages[0].role").
    const where =
      issue.path.length === 0
        ? rootLabel
        : `${typeof issue.path[0] === 'number' ? rootLabel : ''}${formatPath(issue.path)}`;
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const field = issue.path.length === 0 ? key : `${where}.${key}`;
        const snake = toSnakeCase(key);
        const known = (KNOWN_LLM_PARAM_FIELDS as readonly string[]).includes(snake);
        return `${field}: unknown field${snake !== key && known ? ` (did you mean ${snake}?)` : ''}`;
      });
    }
    return [`${where}: ${issue.message}`];
  });
}
