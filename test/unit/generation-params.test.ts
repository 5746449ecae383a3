import fc from 'fast-check';
import {
  ChatParams,
  GenerationParams,
  InvalidParamsError,
  KNOWN_GENERATION_FIELDS,
  KNOWN_LLM_PARAM_FIELDS,
  LlmParams,
  ReasoningParams,
  formatZodIssues,
  fromCamelCaseJson,
  parseChatParams,
  parseGenerationParams,
  parseLlmParams,
  parseReasoningParams,
  safeParseEitherCase,
  toCamelCaseJson,
} from '../../src/schemas/generation-params';

/** The formatted problems of a rejected parse; fails the test if the input was accepted. */
function problems(parse: () => unknown): string[] {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidParamsError);
    return (error as InvalidParamsError).issues;
  }
  throw new Error('expected the input to be rejected');
}

describe('GenerationParams ranges', () => {
  const accepted: [string, unknown][] = [
    ['temperature', 0],
    ['temperature', 2],
    ['temperature', 0.7],
    ['max_tokens', 1],
    ['max_tokens', 1_000_000],
    ['top_p', 1],
    ['top_p', 0.0001],
    ['top_k', 1],
    ['top_k', 1000],
    ['frequency_penalty', -2],
    ['frequency_penalty', 2],
    ['presence_penalty', -2],
    ['presence_penalty', 2],
    ['stop_sequences', []],
    ['stop_sequences', ['\n\n', 'END']],
    ['stop_sequences', Array.from({ length: 16 }, (_, i) => `stop${i}`)],
  ];
  it.each(accepted)('accepts %s = %j', (field, value) => {
    expect(parseGenerationParams({ [field]: value })).toEqual({ [field]: value });
  });

  const rejected: [string, unknown, string][] = [
    ['temperature', -0.01, 'temperature: must be at least 0'],
    ['temperature', 2.01, 'temperature: must be at most 2'],
    ['temperature', Number.NaN, 'temperature: must be a number, got NaN'],
    ['temperature', Number.POSITIVE_INFINITY, 'temperature: must be a number, got Infinity'],
    ['temperature', '0.5', 'temperature: must be a number, got "0.5"'],
    ['temperature', null, 'temperature: must be a number, got null'],
    ['max_tokens', 0, 'max_tokens: must be at least 1'],
    ['max_tokens', 1_000_001, 'max_tokens: must be at most 1000000'],
    ['max_tokens', 12.5, 'max_tokens: must be a whole number'],
    ['top_p', 0, 'top_p: must be greater than 0 (use temperature 0 for greedy decoding)'],
    ['top_p', 1.01, 'top_p: must be at most 1'],
    ['top_k', 0, 'top_k: must be at least 1'],
    ['top_k', 1001, 'top_k: must be at most 1000'],
    ['top_k', 2.5, 'top_k: must be a whole number'],
    ['frequency_penalty', -2.01, 'frequency_penalty: must be at least -2'],
    ['presence_penalty', 2.01, 'presence_penalty: must be at most 2'],
    ['stop_sequences', 'END', 'stop_sequences: must be a list of strings, got "END"'],
    ['stop_sequences', [''], 'stop_sequences[0]: must not be empty'],
    ['stop_sequences', ['a', 3], 'stop_sequences[1]: must be a string, got 3'],
    [
      'stop_sequences',
      Array.from({ length: 17 }, (_, i) => `stop${i}`),
      'stop_sequences: must have at most 16 entries',
    ],
  ];
  it.each(rejected)('rejects %s = %p', (field, value, message) => {
    expect(problems(() => parseGenerationParams({ [field]: value }))).toEqual([message]);
  });

  it('reports every problem at once', () => {
    expect(problems(() => parseGenerationParams({ temperature: 9, top_k: 0, colour: 'red' }))).toEqual([
      'temperature: must be at most 2',
      'top_k: must be at least 1',
      'colour: unknown field',
    ]);
  });

  it('treats every field as optional', () => {
    expect(parseGenerationParams({})).toEqual({});
  });

  it('rejects input that is not an object', () => {
    expect(problems(() => parseGenerationParams(null))).toEqual(['input: must be an object, got null']);
    expect(problems(() => parseGenerationParams([1]))).toEqual(['input: must be an object, got a list']);
    expect(problems(() => parseGenerationParams('{}'))).toEqual(['input: must be an object, got "{}"']);
  });
});

describe('input in either case', () => {
  it('accepts camelCase, snake_case, PascalCase, kebab-case and a mix, returning snake_case', () => {
    expect(
      parseGenerationParams({
        temperature: 0.2,
        maxTokens: 256,
        top_p: 0.9,
        TopK: 40,
        'frequency-penalty': 0.5,
        presencePenalty: -0.5,
        stopSequences: ['END'],
      }),
    ).toEqual({
      temperature: 0.2,
      max_tokens: 256,
      top_p: 0.9,
      top_k: 40,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      stop_sequences: ['END'],
    });
  });

  it('rejects two spellings of one field with different values, naming both', () => {
    expect(problems(() => parseGenerationParams({ maxTokens: 256, max_tokens: 512 }))).toEqual([
      'max_tokens: given as maxTokens (256) and max_tokens (512) with different values; give one spelling',
    ]);
  });

  it('reports a spelling conflict together with the other problems', () => {
    expect(problems(() => parseGenerationParams({ topP: 0.5, top_p: 0.6, temperature: -1 }))).toEqual([
      'top_p: given as topP (0.5) and top_p (0.6) with different values; give one spelling',
      'temperature: must be at least 0',
    ]);
  });

  it('accepts two spellings of one field with the same value, arrays included', () => {
    expect(
      parseGenerationParams({ maxTokens: 256, max_tokens: 256, stopSequences: ['a'], stop_sequences: ['a'] }),
    ).toEqual({ max_tokens: 256, stop_sequences: ['a'] });
    expect(problems(() => parseGenerationParams({ stopSequences: ['a'], stop_sequences: ['b'] }))).toEqual([
      'stop_sequences: given as stopSequences (["a"]) and stop_sequences (["b"]) with different values; give one spelling',
    ]);
  });

  it('reports an unknown field the way the caller spelt it', () => {
    expect(problems(() => parseGenerationParams({ maxTokenz: 5, temprature: 1 }))).toEqual([
      'maxTokenz: unknown field',
      'temprature: unknown field',
    ]);
  });

  it('leaves values alone: only top-level keys are renamed', () => {
    expect(parseChatParams({ toolChoice: { type: 'function', function: { name: 'get_weather' } } })).toEqual({
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    expect(parseGenerationParams({ stopSequences: ['STOP_HERE', 'stopHere'] })).toEqual({
      stop_sequences: ['STOP_HERE', 'stopHere'],
    });
  });

  it('treats a "__proto__" key from JSON as an unknown field without touching any prototype', () => {
    const input: unknown = JSON.parse('{"__proto__": {"polluted": true}, "temperature": 1}');
    expect(problems(() => parseGenerationParams(input))).toEqual(['__proto__: unknown field']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('safeParseEitherCase works with any canonical schema and keeps zod issue paths in snake_case', () => {
    const result = safeParseEitherCase(GenerationParams, { maxTokens: 0 });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toEqual([['max_tokens']]);
  });
});

describe('canonical schemas are strict snake_case', () => {
  it('rejects unknown and camelCase keys, hinting the snake_case spelling of a known field', () => {
    const result = GenerationParams.safeParse({ maxTokens: 1, colour: 'red', temperature: 1 });
    expect(result.success).toBe(false);
    expect(formatZodIssues(result.error!)).toEqual([
      'maxTokens: unknown field (did you mean max_tokens?)',
      'colour: unknown field',
    ]);
  });

  it('rejects unknown keys inside tool_choice', () => {
    const result = ChatParams.safeParse({
      tool_choice: { type: 'function', function: { name: 'f', strict: true } },
    });
    expect(formatZodIssues(result.error!)).toEqual(['tool_choice.function.strict: unknown field']);
  });
});

describe('ChatParams', () => {
  it.each(['auto', 'none', 'required'])('accepts tool_choice %s', (choice) => {
    expect(parseChatParams({ tool_choice: choice })).toEqual({ tool_choice: choice });
  });

  it('accepts every field', () => {
    const params = {
      system_prompt: 'Be brief.',
      stop_sequences: ['END'],
      stream: true,
      tool_choice: { type: 'function', function: { name: 'lookup-1' } },
      parallel_tool_calls: false,
    };
    expect(parseChatParams(params)).toEqual(params);
  });

  it('explains a bad tool_choice', () => {
    expect(problems(() => parseChatParams({ toolChoice: 'sometimes' }))).toEqual([
      'tool_choice: must be "auto", "none", "required" or { type: "function", function: { name } }',
    ]);
    expect(
      problems(() => parseChatParams({ tool_choice: { type: 'function', function: { name: 'a b' } } })),
    ).toEqual(['tool_choice.function.name: must be 1 to 64 letters, digits, "_" or "-"']);
  });

  it('rejects non-boolean stream and parallel_tool_calls', () => {
    expect(problems(() => parseChatParams({ stream: 'yes', parallelToolCalls: 1 }))).toEqual([
      'stream: must be true or false, got "yes"',
      'parallel_tool_calls: must be true or false, got 1',
    ]);
  });
});

describe('ReasoningParams', () => {
  it('accepts every field', () => {
    const params = {
      reasoning_effort: 'minimal',
      thinking_mode: true,
      thinking_tokens: 1024,
      chain_of_thought: false,
    };
    expect(parseReasoningParams(params)).toEqual(params);
    expect(parseReasoningParams({ thinkingMode: true, thinkingTokens: 128_000 })).toEqual({
      thinking_mode: true,
      thinking_tokens: 128_000,
    });
  });

  it.each([{}, { thinking_mode: false }])('rejects thinking_tokens with %j', (mode) => {
    expect(problems(() => parseReasoningParams({ ...mode, thinking_tokens: 2048 }))).toEqual([
      'thinking_tokens: requires thinking_mode: true (set it, or remove thinking_tokens)',
    ]);
  });

  it('allows thinking_mode without thinking_tokens', () => {
    expect(parseReasoningParams({ thinking_mode: true })).toEqual({ thinking_mode: true });
  });

  it('checks the thinking budget range and the effort levels', () => {
    expect(
      problems(() =>
        parseReasoningParams({ thinking_mode: true, thinking_tokens: 1023, reasoningEffort: 'max' }),
      ),
    ).toEqual([
      'reasoning_effort: must be "minimal", "low", "medium" or "high", got "max"',
      'thinking_tokens: must be at least 1024',
    ]);
    expect(problems(() => parseReasoningParams({ thinking_mode: true, thinking_tokens: 128_001 }))).toEqual([
      'thinking_tokens: must be at most 128000',
    ]);
  });

  it('applies the thinking rule to the combined LlmParams too', () => {
    expect(problems(() => parseLlmParams({ temperature: 1, thinkingTokens: 4096 }))).toEqual([
      'thinking_tokens: requires thinking_mode: true (set it, or remove thinking_tokens)',
    ]);
    expect(ReasoningParams.safeParse({ thinking_tokens: 4096 }).success).toBe(false);
  });
});

describe('camelCase JSON out', () => {
  it('converts keys at every depth and leaves values alone', () => {
    expect(
      toCamelCaseJson({
        max_tokens: 256,
        stop_sequences: ['END_OF_TEXT', 'max_tokens'],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        templates: [{ llm_preferences: { top_p: 0.9 }, updated_at: '2024-01-01' }],
        nothing: null,
      }),
    ).toEqual({
      maxTokens: 256,
      stopSequences: ['END_OF_TEXT', 'max_tokens'],
      toolChoice: { type: 'function', function: { name: 'get_weather' } },
      templates: [{ llmPreferences: { topP: 0.9 }, updatedAt: '2024-01-01' }],
      nothing: null,
    });
  });

  it('fromCamelCaseJson is its inverse on snake_case input', () => {
    const snake = { max_tokens: 1, nested: [{ top_p: 0.5 }], tool_choice: 'auto' };
    expect(fromCamelCaseJson(toCamelCaseJson(snake))).toEqual(snake);
  });

  it('refuses to merge two keys that collide with different values', () => {
    expect(() => fromCamelCaseJson({ nested: { maxTokens: 1, max_tokens: 2 } })).toThrow(
      /maxTokens \(1\) and max_tokens \(2\)/,
    );
    expect(fromCamelCaseJson({ maxTokens: 1, max_tokens: 1 })).toEqual({ max_tokens: 1 });
  });

  it('leaves non-plain objects such as dates alone', () => {
    const date = new Date(0);
    expect(toCamelCaseJson({ created_at: date })).toEqual({ createdAt: date });
  });

  it('round-trips any valid parameters: parse(camel(params)) equals params', () => {
    const finite = (min: number, max: number) =>
      fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
    const llmParams = fc.record(
      {
        temperature: finite(0, 2),
        max_tokens: fc.integer({ min: 1, max: 1_000_000 }),
        top_p: finite(Number.MIN_VALUE, 1),
        top_k: fc.integer({ min: 1, max: 1000 }),
        frequency_penalty: finite(-2, 2),
        presence_penalty: finite(-2, 2),
        stop_sequences: fc.array(fc.string({ minLength: 1 }), { maxLength: 16 }),
        system_prompt: fc.string(),
        stream: fc.boolean(),
        tool_choice: fc.constantFrom('auto', 'none', 'required'),
        parallel_tool_calls: fc.boolean(),
        reasoning_effort: fc.constantFrom('minimal', 'low', 'medium', 'high'),
        chain_of_thought: fc.boolean(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(llmParams, (params) => {
        expect(LlmParams.parse(params)).toEqual(params);
        expect(parseLlmParams(toCamelCaseJson(params))).toEqual(params);
      }),
    );
  });
});

describe('field lists', () => {
  it('KNOWN_GENERATION_FIELDS lists the generation fields in snake_case', () => {
    expect(KNOWN_GENERATION_FIELDS).toEqual([
      'temperature',
      'max_tokens',
      'top_p',
      'top_k',
      'frequency_penalty',
      'presence_penalty',
      'stop_sequences',
    ]);
    expect(Object.isFrozen(KNOWN_GENERATION_FIELDS)).toBe(true);
  });

  it('KNOWN_LLM_PARAM_FIELDS lists every field once', () => {
    expect(KNOWN_LLM_PARAM_FIELDS).toHaveLength(15);
    expect(new Set(KNOWN_LLM_PARAM_FIELDS).size).toBe(15);
    expect(Object.keys(LlmParams.shape).sort()).toEqual([...KNOWN_LLM_PARAM_FIELDS].sort());
  });
});
