import { parseConfigWriteBody } from '../../src/service/config-write-body';
import { llmFieldProblems } from '../../src/service/llm-field-rules';
import { createRequestKeys } from '../../src/service/request-key';
import { ServiceError } from '../../src/service/service-error';
import { parseUserId } from '../../src/service/user-id';

function rejection(action: () => unknown): { status: number; message: string } {
  try {
    action();
  } catch (error) {
    if (error instanceof ServiceError) return { status: error.statusCode, message: error.message };
    throw error;
  }
  throw new Error('expected a ServiceError');
}

describe('PUT /api/config/:key body', () => {
  it.each([
    [
      { value: 512, valueType: 'number' },
      { value: 512, valueType: 'number' },
    ],
    [
      { value: 512, value_type: 'number' },
      { value: 512, valueType: 'number' },
    ],
    [
      { Value: 'gpt-5', ValueType: 'string' },
      { value: 'gpt-5', valueType: 'string' },
    ],
    [{ value: true }, { value: true, valueType: 'boolean' }],
    [{ value: 0.5 }, { value: 0.5, valueType: 'number' }],
    [{ value: 'text' }, { value: 'text', valueType: 'string' }],
    [{ value: ['END'] }, { value: ['END'], valueType: 'json' }],
    [{ value: null }, { value: null, valueType: 'json' }],
    [
      { value: 'sk-1', valueType: 'secret' },
      { value: 'sk-1', valueType: 'secret' },
    ],
  ])('reads %j in either case, inferring a missing valueType', (body, expected) => {
    expect(parseConfigWriteBody(body, undefined)).toEqual({ ...expected, scope: 'global' });
  });

  it("writes the user's own value when the request names a user, unless the body says global", () => {
    expect(parseConfigWriteBody({ value: 1 }, 'alice').scope).toBe('user');
    expect(parseConfigWriteBody({ value: 1, scope: 'global' }, 'alice').scope).toBe('global');
    expect(parseConfigWriteBody({ value: 1 }, undefined).scope).toBe('global');
    expect(rejection(() => parseConfigWriteBody({ value: 1, scope: 'user' }, undefined))).toEqual({
      status: 400,
      message: 'scope "user" needs the x-user-id header naming the user',
    });
  });

  it.each([
    ['a list', [1, 2], /body must be a JSON object/],
    ['a string', 'sk-plaintext', /body must be a JSON object/],
    ['no value', { valueType: 'number' }, /body needs a value/],
    ['an unknown field', { value: 1, extra: true }, /extra: unknown field/],
    ['an unknown value type', { value: 1, valueType: 'float' }, /valueType must be one of string, number/],
    ['an unknown scope', { value: 1, scope: 'team' }, /scope must be "user" or "global"/],
  ])('rejects %s with a 400 that says what is wrong', (_label, body, message) => {
    const { status, message: text } = rejection(() => parseConfigWriteBody(body, undefined));
    expect(status).toBe(400);
    expect(text).toMatch(message);
  });

  it('rejects two spellings of a field without quoting either value (a body may carry a secret)', () => {
    const { status, message } = rejection(() =>
      parseConfigWriteBody({ value: 'sk-first-PLAINTEXT', Value: 'sk-second-PLAINTEXT' }, undefined),
    );
    expect(status).toBe(400);
    expect(message).toBe('body gives a field more than once (value and Value); give one spelling');
    expect(message).not.toContain('PLAINTEXT');
  });

  it('keeps "__proto__" an ordinary (unknown) field', () => {
    const body = JSON.parse('{"value": 1, "__proto__": {"polluted": true}}') as unknown;
    expect(rejection(() => parseConfigWriteBody(body, undefined)).message).toMatch(/unknown field/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('config key from the URL', () => {
  it.each([
    ['maxTokens', 'max_tokens'],
    ['max_tokens', 'max_tokens'],
    ['llm.topP', 'llm.top_p'],
    ['HTTPRequestTimeout', 'http_request_timeout'],
  ])('normalizes %s to %s', (raw, normalized) => {
    expect(createRequestKeys().parse(raw).normalized).toBe(normalized);
  });

  it('knows the canonical camelCase spelling and whether the name is a secret', () => {
    const keys = createRequestKeys();
    expect(keys.parse('OpenAIApiKey')).toEqual({
      raw: 'OpenAIApiKey',
      normalized: 'open_ai_api_key',
      camel: 'openAiApiKey',
      secret: true,
    });
    expect(keys.parse('max_tokens')).toMatchObject({ camel: 'maxTokens', secret: false });
  });

  it('remembers a bounded number of spellings', () => {
    const keys = createRequestKeys(2);
    const first = keys.parse('maxTokens');
    expect(keys.parse('maxTokens')).toBe(first);
    keys.parse('topP');
    keys.parse('topK'); // Past the bound: the memory starts over.
    expect(keys.parse('maxTokens')).not.toBe(first);
    expect(keys.parse('maxTokens')).toEqual(first);
  });

  it.each([['___'], ['-'], ['a\u0000b'], ['x'.repeat(257)]])('rejects %j', (raw) => {
    expect(rejection(() => createRequestKeys().parse(raw)).status).toBe(400);
  });
});

describe('x-user-id', () => {
  it('is optional and taken as given', () => {
    expect(parseUserId(undefined)).toBeUndefined();
    expect(parseUserId('user-42')).toBe('user-42');
    expect(parseUserId('ana@example.com')).toBe('ana@example.com');
  });

  it.each([[''], ['a\nb'], ['x'.repeat(257)], [['a', 'b']], [['']]])('rejects %j with a 400', (header) => {
    expect(rejection(() => parseUserId(header)).status).toBe(400);
  });

  it('takes a header given once from headersDistinct, and refuses a repeated one without quoting it', () => {
    expect(parseUserId(['user-42'])).toBe('user-42');
    expect(rejection(() => parseUserId(['alice', 'bob']))).toEqual({
      status: 400,
      message: 'x-user-id must be given once',
    });
  });
});

describe('unified-path checks of LLM parameters', () => {
  it('accepts values in range with the matching value type', () => {
    expect(llmFieldProblems('temperature', 0.7, 'number')).toEqual([]);
    expect(llmFieldProblems('stop_sequences', ['END'], 'json')).toEqual([]);
    expect(llmFieldProblems('reasoning_effort', 'low', 'string')).toEqual([]);
    expect(llmFieldProblems('stream', false, 'boolean')).toEqual([]);
  });

  it('reports out-of-range values and mismatched value types by field', () => {
    expect(llmFieldProblems('temperature', 7, 'number')).toEqual(['temperature: must be at most 2']);
    expect(llmFieldProblems('max_tokens', 1.5, 'number')).toEqual(['max_tokens: must be a whole number']);
    expect(llmFieldProblems('top_p', 0, 'number')).toEqual([
      'top_p: must be greater than 0 (use temperature 0 for greedy decoding)',
    ]);
    expect(llmFieldProblems('max_tokens', 512, 'string')).toEqual([
      'max_tokens: valueType must be number for this value, got string',
    ]);
  });

  it('states the rule without the refused value, whatever the value is', () => {
    const value = 'sk-this-is-a-misfiled-credential-0123';
    const problems = [
      ...llmFieldProblems('temperature', value, 'string'),
      ...llmFieldProblems('temperature', value, 'secret'),
      ...llmFieldProblems('reasoning_effort', value, 'string'),
      ...llmFieldProblems('stop_sequences', [value, 3], 'json'),
      ...llmFieldProblems('max_tokens', 'hot', 'string'),
      ...llmFieldProblems('tool_choice', { type: value }, 'json'),
    ];
    expect(problems).toEqual([
      'temperature: must be a number, got a string',
      'temperature: is an LLM parameter, not a secret; valueType secret is not allowed',
      'reasoning_effort: must be "minimal", "low", "medium" or "high", got a string',
      'stop_sequences.1: must be a string, got a number',
      'max_tokens: must be a number, got a string',
      'tool_choice: must be "auto", "none", "required" or { type: "function", function: { name } }',
    ]);
  });

  it('leaves every other key alone', () => {
    expect(llmFieldProblems('default_model', 42, 'number')).toEqual([]);
  });
});
