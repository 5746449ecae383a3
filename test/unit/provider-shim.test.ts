import fc from 'fast-check';
import { InvalidParamsError } from '../../src/schemas/generation-params';
import { resolveCompleteArguments } from '../../src/providers/complete-arguments';
import {
  LlmProvider,
  type ChatMessage,
  type CompletionRequest,
  type CompletionResult,
} from '../../src/providers/llm-provider';
import {
  POSITIONAL_COMPLETE_DEPRECATION_CODE,
  resetDeprecationWarningForTests,
} from '../../src/providers/positional-complete-deprecation';

/** Records what the shim hands to an adapter instead of calling a provider. */
class RecordingProvider extends LlmProvider {
  readonly providerName = 'Recording';
  readonly requests: CompletionRequest[] = [];

  protected override async send(request: CompletionRequest): Promise<CompletionResult> {
    this.requests.push(request);
    return { text: 'ok', model: request.model, finishReason: 'stop' };
  }
}

/** The untyped door JavaScript callers and legacy code use. */
function callLoosely(provider: LlmProvider, ...args: unknown[]): Promise<CompletionResult> {
  return (provider.complete as (...args: unknown[]) => Promise<CompletionResult>)(...args);
}

const messages: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi' },
];
const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];

/**
 * Jest gives each test file its own `process` object, and listeners added to it with
 * `process.on('warning')` never hear warnings Node emits on the real one, so here the call to
 * `process.emitWarning` is what is counted (and silenced). `test/integration/provider-deprecation-process.test.ts`
 * counts real `'warning'` events in a child process.
 */
let emitWarning: jest.SpyInstance;

beforeEach(() => {
  resetDeprecationWarningForTests();
  emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
});

afterEach(() => {
  emitWarning.mockRestore();
});

interface EmittedWarning {
  message: string;
  type?: string;
  code?: string;
}

function deprecationWarnings(): EmittedWarning[] {
  return emitWarning.mock.calls
    .map(([message, options]) => ({ message: String(message), ...(options as object) }) as EmittedWarning)
    .filter((warning) => warning.code === POSITIONAL_COMPLETE_DEPRECATION_CODE);
}

describe('the deprecated positional form', () => {
  const cases: [string, unknown[], CompletionRequest['params'], unknown][] = [
    ['3 arguments', [0.2], { temperature: 0.2 }, undefined],
    ['4 arguments', [0.2, 256], { temperature: 0.2, max_tokens: 256 }, undefined],
    ['5 arguments', [0.2, 256, true], { temperature: 0.2, max_tokens: 256, stream: true }, undefined],
    ['6 arguments', [0.2, 256, false, tools], { temperature: 0.2, max_tokens: 256, stream: false }, tools],
    ['nulls for the unset ones', [null, 256, null, null], { max_tokens: 256 }, undefined],
    ['undefined temperature then maxTokens', [undefined, 64], { max_tokens: 64 }, undefined],
    ['only null', [null], {}, undefined],
    ['an empty tools list', [0, 1, false, []], { temperature: 0, max_tokens: 1, stream: false }, undefined],
    [
      'trailing undefineds from a forwarding wrapper',
      [0.5, undefined, undefined, undefined],
      { temperature: 0.5 },
      undefined,
    ],
  ];

  it.each(cases)('maps %s to the canonical request', async (_name, rest, params, expectedTools) => {
    const provider = new RecordingProvider();
    await expect(callLoosely(provider, messages, 'gpt-4o', ...rest)).resolves.toEqual({
      text: 'ok',
      model: 'gpt-4o',
      finishReason: 'stop',
    });
    expect(provider.requests).toEqual([
      { messages, model: 'gpt-4o', params, reasoning: {}, tools: expectedTools },
    ]);
    expect(deprecationWarnings()).toHaveLength(1);
  });

  it('is typed for TypeScript callers (as a deprecated overload)', async () => {
    const provider = new RecordingProvider();
    await provider.complete(messages, 'gpt-4o', 0.2, 256, false, tools);
    expect(provider.requests[0]?.params).toEqual({ temperature: 0.2, max_tokens: 256, stream: false });
  });

  it('builds the same request as the equivalent current-form call, for any old-form arguments', async () => {
    const orAbsent = <T>(arbitrary: fc.Arbitrary<T>) =>
      fc.oneof(arbitrary, fc.constant(null), fc.constant(undefined));
    const oldArgs = fc.tuple(
      orAbsent(fc.double({ min: 0, max: 2, noNaN: true })),
      orAbsent(fc.integer({ min: 1, max: 1_000_000 })),
      orAbsent(fc.boolean()),
    );
    await fc.assert(
      fc.asyncProperty(oldArgs, async ([temperature, maxTokens, stream]) => {
        const provider = new RecordingProvider();
        await callLoosely(provider, messages, 'm', temperature, maxTokens, stream);
        const params = {
          ...(temperature == null ? {} : { temperature }),
          ...(maxTokens == null ? {} : { max_tokens: maxTokens }),
          ...(stream == null ? {} : { stream }),
        };
        await provider.complete(messages, 'm', params);
        expect(provider.requests).toHaveLength(2);
        expect(provider.requests[0]).toEqual(provider.requests[1]);
      }),
    );
  });

  it('validates the mapped values like any other parameters', async () => {
    const provider = new RecordingProvider();
    await expect(callLoosely(provider, messages, 'gpt-4o', 3, 0)).rejects.toThrow(InvalidParamsError);
    await expect(callLoosely(provider, messages, 'gpt-4o', 3, 0)).rejects.toThrow(
      'invalid generationParams: temperature: must be at most 2; max_tokens: must be at least 1',
    );
    expect(provider.requests).toHaveLength(0);
  });
});

describe('the deprecation warning', () => {
  it('is a DeprecationWarning with its code, emitted exactly once however many old-form calls follow', async () => {
    const provider = new RecordingProvider();
    const other = new RecordingProvider();
    for (let i = 0; i < 50; i += 1) {
      await callLoosely(provider, messages, 'gpt-4o', 0.1 * (i % 10), 100);
      await callLoosely(other, messages, 'gpt-4o', null, 10, true, tools);
      await provider.complete(messages, 'gpt-4o', { temperature: 1 });
    }
    const found = deprecationWarnings();
    expect(found).toHaveLength(1);
    expect(found[0]?.type).toBe('DeprecationWarning');
    expect(found[0]?.message).toMatch(
      /complete\(messages, model, temperature, maxTokens, stream, tools\) is deprecated; call complete\(messages, model, generationParams, reasoningParams\?\)/,
    );
    expect(provider.requests).toHaveLength(100);
    expect(other.requests).toHaveLength(50);
  });

  it('is not emitted for the current form, nor for a call with no parameters at all', async () => {
    const provider = new RecordingProvider();
    await provider.complete(messages, 'gpt-4o', { temperature: 0.2 }, { reasoning_effort: 'low' });
    await callLoosely(provider, messages, 'gpt-4o');
    await callLoosely(provider, messages, 'gpt-4o', undefined);
    await callLoosely(provider, messages, 'gpt-4o', undefined, { thinking_mode: true });
    expect(deprecationWarnings()).toHaveLength(0);
  });

  it('is not emitted for a call whose shape is rejected', async () => {
    await expect(callLoosely(new RecordingProvider(), messages, 'gpt-4o', 0.2, {})).rejects.toThrow(
      TypeError,
    );
    expect(deprecationWarnings()).toHaveLength(0);
  });
});

describe('the current form', () => {
  it('passes parameters through unchanged, whatever their number', async () => {
    const provider = new RecordingProvider();
    const params = { temperature: 0.2, max_tokens: 256, top_k: 40, stop_sequences: ['END'], stream: false };
    const reasoning = { reasoning_effort: 'high', thinking_mode: true, thinking_tokens: 2048 } as const;
    await provider.complete(messages, 'claude', params, reasoning);
    await provider.complete(messages, 'claude', params);
    await provider.complete(messages, 'claude', {});
    await callLoosely(provider, messages, 'claude', undefined, reasoning);
    expect(provider.requests.map(({ params: p, reasoning: r, tools: t }) => [p, r, t])).toEqual([
      [params, reasoning, undefined],
      [params, {}, undefined],
      [{}, {}, undefined],
      [{}, reasoning, undefined],
    ]);
  });

  it('rejects camelCase keys in code, naming the snake_case field', async () => {
    const provider = new RecordingProvider();
    await expect(callLoosely(provider, messages, 'gpt-4o', { maxTokens: 5 })).rejects.toThrow(
      'invalid generationParams: maxTokens: unknown field (did you mean max_tokens?)',
    );
  });

  it('validates reasoningParams, including the thinking_tokens rule', async () => {
    const provider = new RecordingProvider();
    await expect(provider.complete(messages, 'm', {}, { thinking_tokens: 2048 })).rejects.toThrow(
      'invalid reasoningParams: thinking_tokens: requires thinking_mode: true',
    );
    expect(provider.requests).toHaveLength(0);
  });

  it('validates messages and model', async () => {
    const provider = new RecordingProvider();
    await expect(callLoosely(provider, [], 'm', {})).rejects.toThrow(
      'complete(): invalid messages: messages: must hold at least one message',
    );
    await expect(callLoosely(provider, [{ role: 'robot', content: 'x' }], 'm', {})).rejects.toThrow(
      /invalid messages: messages\[0\]\.role/,
    );
    await expect(callLoosely(provider, messages, '', {})).rejects.toThrow('model must be a non-empty string');
    await expect(callLoosely(provider, messages, 42, 0.2)).rejects.toThrow(TypeError);
    expect(provider.requests).toHaveLength(0);
  });
});

describe('shapes that fit neither form', () => {
  const ambiguous: [string, unknown[], RegExp][] = [
    [
      'a temperature followed by an object',
      [0.2, { reasoning_effort: 'low' }],
      /4th argument must be a number \(maxTokens, deprecated form, chosen because the 3rd argument is a number\), got an object/,
    ],
    [
      'a numeric string as temperature',
      ['0.2'],
      /3rd argument must be an object \(generationParams, current form\) or a number \(temperature, deprecated form\), got a string/,
    ],
    ['an array as 3rd argument', [[0.2]], /3rd argument must be an object .* got an array/],
    ['a boolean as 3rd argument', [true], /got a boolean/],
    [
      'params followed by a number',
      [{ temperature: 0.2 }, 256],
      /4th argument \(reasoningParams\) must be an object, got a number \(a number here belongs to the deprecated form\)/,
    ],
    ['params, reasoning and more', [{}, {}, true], /the current form takes at most 4 arguments, got 5/],
    [
      'params and null reasoning',
      [{}, null],
      /4th argument \(reasoningParams\) must be an object or omitted, got null/,
    ],
    ['a string for stream', [0.2, 256, 'yes'], /5th argument must be a boolean \(stream, deprecated form/],
    [
      'an object for tools',
      [0.2, 256, true, { tools }],
      /6th argument must be an array \(tools, deprecated form/,
    ],
    [
      'seven arguments',
      [0.2, 256, true, tools, 'extra'],
      /got 7 arguments; the deprecated form takes at most 6/,
    ],
    ['a class instance as params', [new Map()], /got a Map/],
  ];

  it.each(ambiguous)('rejects %s with a TypeError naming both forms', async (_name, rest, message) => {
    const provider = new RecordingProvider();
    const call = callLoosely(provider, messages, 'gpt-4o', ...rest);
    await expect(call).rejects.toThrow(TypeError);
    await expect(callLoosely(provider, messages, 'gpt-4o', ...rest)).rejects.toThrow(message);
    await expect(callLoosely(provider, messages, 'gpt-4o', ...rest)).rejects.toThrow(
      'Expected complete(messages, model, generationParams, reasoningParams?) or complete(messages, model, temperature, maxTokens, stream, tools) (deprecated).',
    );
    expect(provider.requests).toHaveLength(0);
  });
});

describe('resolveCompleteArguments', () => {
  it('decides by shape, not by count', () => {
    expect(resolveCompleteArguments([messages, 'm', 0.2]).form).toBe('positional');
    expect(resolveCompleteArguments([messages, 'm', { temperature: 0.2 }]).form).toBe('current');
    expect(resolveCompleteArguments([messages, 'm', 0.2, 1, true, tools]).form).toBe('positional');
    expect(resolveCompleteArguments([messages, 'm', {}, {}]).form).toBe('current');
    expect(resolveCompleteArguments([messages, 'm', undefined, undefined, undefined, tools]).form).toBe(
      'positional',
    );
    expect(resolveCompleteArguments([messages, 'm', Object.create(null)]).form).toBe('current');
  });
});
