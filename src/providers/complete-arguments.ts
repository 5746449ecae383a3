import { isPlainObject } from '../json/json-values';

/**
 * Tells the two call shapes of `LlmProvider.complete` apart by what the arguments ARE, never by how many there
 * are (the seed counted six, so `complete(msgs, model, 0.2)` fell through to the new path with a number as its
 * parameter object; SPEC §10):
 *
 * - current:    `(messages, model, generationParams?: object, reasoningParams?: object)`
 * - positional: `(messages, model, temperature?: number, maxTokens?: number, stream?: boolean, tools?: array)`
 *   (deprecated), where any of the four may also be null or undefined.
 *
 * An object in position 3 is the current form. A number or null there, or an old-form value in positions
 * 4 to 6 (number, boolean, array), is the positional form. Only undefineds after the model is the current
 * form with no parameters: both forms mean the same then, and nothing deprecated was used. Every other mix
 * (a number then an object, a string, too many arguments) is a TypeError that names both forms, because
 * guessing would send a request the caller did not ask for.
 *
 * Pure: validation of the values themselves is the schemas' job.
 */

export const CURRENT_FORM = 'complete(messages, model, generationParams, reasoningParams?)';
export const POSITIONAL_FORM =
  'complete(messages, model, temperature, maxTokens, stream, tools) (deprecated)';

export type ResolvedCompleteCall =
  | { form: 'current'; messages: unknown; model: unknown; params: unknown; reasoning: unknown }
  | {
      form: 'positional';
      messages: unknown;
      model: unknown;
      params: { temperature?: unknown; max_tokens?: unknown; stream?: unknown };
      tools: readonly unknown[] | undefined;
    };

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (isPlainObject(value)) return 'an object';
  return `a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value}`;
}

const ORDINAL = ['1st', '2nd', '3rd', '4th', '5th', '6th'];

function ordinal(index: number): string {
  return ORDINAL[index] ?? `${index + 1}th`;
}

function shapeError(problem: string): TypeError {
  return new TypeError(`complete(): ${problem}. Expected ${CURRENT_FORM} or ${POSITIONAL_FORM}.`);
}

const isAbsent = (value: unknown): value is null | undefined => value === null || value === undefined;

/** What each positional slot after the model may hold, besides null and undefined. */
const POSITIONAL_SLOTS: readonly { name: string; fits: (value: unknown) => boolean; expected: string }[] = [
  { name: 'temperature', fits: (value) => typeof value === 'number', expected: 'a number' },
  { name: 'maxTokens', fits: (value) => typeof value === 'number', expected: 'a number' },
  { name: 'stream', fits: (value) => typeof value === 'boolean', expected: 'a boolean' },
  { name: 'tools', fits: (value) => Array.isArray(value), expected: 'an array' },
];

/** Trailing `undefined`s are what forwarding wrappers (`(...args) => p.complete(...args)`) add; ignore them. */
function withoutTrailingUndefined(args: readonly unknown[]): readonly unknown[] {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end -= 1;
  return args.slice(0, end);
}

function resolveCurrent(args: readonly unknown[]): ResolvedCompleteCall {
  const [messages, model, params, reasoning, ...extra] = args;
  if (!isAbsent(reasoning) && !isPlainObject(reasoning)) {
    const positional = typeof reasoning === 'number' ? ' (a number here belongs to the deprecated form)' : '';
    throw shapeError(
      `4th argument (reasoningParams) must be an object, got ${describe(reasoning)}${positional}`,
    );
  }
  if (reasoning === null) {
    throw shapeError('4th argument (reasoningParams) must be an object or omitted, got null');
  }
  if (extra.length > 0) {
    throw shapeError(`the current form takes at most 4 arguments, got ${args.length}`);
  }
  return { form: 'current', messages, model, params: params ?? {}, reasoning: reasoning ?? {} };
}

/**
 * Classifies a call's arguments; throws a TypeError naming both forms when the shape fits neither.
 *
 * @example
 * resolveCompleteArguments([msgs, 'gpt-4o', 0.2]).form; // 'positional'
 * resolveCompleteArguments([msgs, 'gpt-4o', { temperature: 0.2 }]).form; // 'current'
 */
export function resolveCompleteArguments(rawArgs: readonly unknown[]): ResolvedCompleteCall {
  const args = withoutTrailingUndefined(rawArgs);
  const [messages, model, third, fourth] = args;
  if (args.length <= 2) return { form: 'current', messages, model, params: {}, reasoning: {} };
  if (isPlainObject(third)) return resolveCurrent(args);
  if (third === undefined && isPlainObject(fourth)) return resolveCurrent(args);

  const slots = args.slice(2);
  if (slots.length > POSITIONAL_SLOTS.length) {
    throw shapeError(`got ${args.length} arguments; the deprecated form takes at most 6`);
  }
  slots.forEach((value, offset) => {
    const slot = POSITIONAL_SLOTS[offset];
    if (slot === undefined || isAbsent(value) || slot.fits(value)) return;
    const index = offset + 2;
    const hint =
      offset === 0
        ? ` (generationParams, current form) or a number (temperature, deprecated form)`
        : ` (${slot.name}, deprecated form, chosen because the 3rd argument is ${describe(third)})`;
    const expected = offset === 0 ? 'an object' : slot.expected;
    throw shapeError(`${ordinal(index)} argument must be ${expected}${hint}, got ${describe(value)}`);
  });
  const [temperature, maxTokens, stream, tools] = slots;
  return {
    form: 'positional',
    messages,
    model,
    params: {
      ...(isAbsent(temperature) ? {} : { temperature }),
      ...(isAbsent(maxTokens) ? {} : { max_tokens: maxTokens }),
      ...(isAbsent(stream) ? {} : { stream }),
    },
    tools: Array.isArray(tools) && tools.length > 0 ? tools : undefined,
  };
}
