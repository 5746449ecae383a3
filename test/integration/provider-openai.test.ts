import { inspect } from 'node:util';
import { OpenAiProvider } from '../../src/providers/openai-provider';
import type { ChatMessage, CompletionResult } from '../../src/providers/llm-provider';
import { ProviderError } from '../../src/providers/provider-error';
import { resetDeprecationWarningForTests } from '../../src/providers/positional-complete-deprecation';
import {
  FAKE_OPENAI_TEXT,
  startFakeProviderServer,
  type FakeProviderServer,
} from '../helpers/fake-provider-server';

const API_KEY = 'sk-test-0123456789abcdefSECRET';
const messages: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Weather in Oslo?' },
];
const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather now',
      parameters: { type: 'object', properties: {} },
    },
  },
];

let server: FakeProviderServer;
let emitWarning: jest.SpyInstance;

beforeEach(async () => {
  server = await startFakeProviderServer();
  resetDeprecationWarningForTests();
  emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
});

afterEach(async () => {
  emitWarning.mockRestore();
  await server.close();
});

const openai = (options: Partial<ConstructorParameters<typeof OpenAiProvider>[0]> = {}) =>
  new OpenAiProvider({ baseUrl: server.baseUrl, apiKey: API_KEY, timeoutMs: 5_000, ...options });

/** The deprecated positional form, as untyped legacy callers make it. */
const legacyComplete = (provider: OpenAiProvider, ...args: unknown[]) =>
  (provider.complete as (...args: unknown[]) => Promise<CompletionResult>)(...args);

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('OpenAI adapter request', () => {
  it('sends every supported parameter under its Chat Completions name', async () => {
    const result = await openai().complete(
      messages,
      'gpt-4o',
      {
        temperature: 0.2,
        max_tokens: 256,
        top_p: 0.9,
        top_k: 40,
        frequency_penalty: 0.5,
        presence_penalty: -0.5,
        stop_sequences: ['END', '\n\n'],
        system_prompt: 'Answer in English.',
        stream: true,
        tool_choice: 'auto',
        parallel_tool_calls: false,
      },
      { reasoning_effort: 'low', thinking_mode: true, thinking_tokens: 2048, chain_of_thought: true },
    );

    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body).toEqual({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Answer in English.' },
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Weather in Oslo?' },
      ],
      temperature: 0.2,
      max_completion_tokens: 256,
      top_p: 0.9,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      stop: ['END', '\n\n'],
      stream: false,
      reasoning_effort: 'low',
    });
    expect(result).toEqual({
      text: FAKE_OPENAI_TEXT,
      model: 'gpt-4o-2024-08-06',
      finishReason: 'stop',
      usage: { inputTokens: 12, outputTokens: 7 },
    });
  });

  it('sends only model, messages and stream: false when no parameter is set', async () => {
    await openai().complete([{ role: 'user', content: 'Hi' }], 'gpt-4o-mini', {});
    expect(server.requests[0]?.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: false,
    });
  });

  it('uses max_tokens for servers configured with the legacy field name', async () => {
    await openai({ maxTokensField: 'max_tokens' }).complete(messages, 'llama-3', { max_tokens: 64 });
    expect(server.requests[0]?.body).toMatchObject({ max_tokens: 64 });
    expect(server.requests[0]?.body).not.toHaveProperty('max_completion_tokens');
  });

  it('keeps a path prefix in baseUrl and tolerates a trailing slash', async () => {
    await new OpenAiProvider({ baseUrl: `${server.baseUrl}/proxy/openai/`, apiKey: API_KEY }).complete(
      messages,
      'gpt-4o',
      {},
    );
    expect(server.requests[0]?.path).toBe('/proxy/openai/v1/chat/completions');
  });

  it('passes tool_call_id on tool messages', async () => {
    await openai().complete(
      [
        { role: 'user', content: 'Weather?' },
        { role: 'tool', content: '{"temp":3}', tool_call_id: 'call_1' },
      ],
      'gpt-4o',
      {},
    );
    expect((server.requests[0]?.body as { messages: unknown }).messages).toEqual([
      { role: 'user', content: 'Weather?' },
      { role: 'tool', content: '{"temp":3}', tool_call_id: 'call_1' },
    ]);
  });

  it('refuses more than 4 stop sequences without sending anything', async () => {
    const error = await rejection(
      openai().complete(messages, 'gpt-4o', { stop_sequences: ['a', 'b', 'c', 'd', 'e'] }),
    );
    expect(error.kind).toBe('invalid_request');
    expect(error.message).toBe('OpenAI accepts at most 4 stop sequences, got 5');
    expect(server.requests).toHaveLength(0);
  });
});

describe('OpenAI adapter through the deprecated positional form', () => {
  it('sends the same request as the equivalent current-form call', async () => {
    const provider = openai();
    await legacyComplete(provider, messages, 'gpt-4o', 0.3, 100, false);
    await provider.complete(messages, 'gpt-4o', { temperature: 0.3, max_tokens: 100, stream: false });
    const [legacy, current] = server.requests;
    expect(legacy?.body).toEqual(current?.body);
    expect(legacy?.headers.authorization).toEqual(current?.headers.authorization);
    expect(legacy?.body).toEqual({
      model: 'gpt-4o',
      messages,
      temperature: 0.3,
      max_completion_tokens: 100,
      stream: false,
    });
    expect(emitWarning).toHaveBeenCalledTimes(1);
  });

  it('passes tools through, with tool_choice and parallel_tool_calls only alongside them', async () => {
    await legacyComplete(openai(), messages, 'gpt-4o', 0, 50, true, tools);
    expect(server.requests[0]?.body).toEqual({
      model: 'gpt-4o',
      messages,
      temperature: 0,
      max_completion_tokens: 50,
      stream: false,
      tools,
    });
  });

  it('warns once for many calls', async () => {
    const provider = openai();
    for (let i = 0; i < 20; i += 1) await legacyComplete(provider, messages, 'gpt-4o', 0.5);
    expect(server.requests).toHaveLength(20);
    expect(emitWarning).toHaveBeenCalledTimes(1);
  });
});

describe('OpenAI adapter failures', () => {
  it('names provider, status and a short body excerpt, but never the API key the server echoed', async () => {
    server.setBehavior({
      kind: 'error',
      status: 401,
      body: JSON.stringify({
        error: {
          message: `Incorrect API key provided: ${API_KEY}. ${'x'.repeat(500)}`,
          type: 'invalid_request_error',
        },
      }),
    });
    const error = await rejection(openai().complete(messages, 'gpt-4o', {}));
    expect(error.kind).toBe('http');
    expect(error.status).toBe(401);
    expect(error.message).toMatch(
      /^OpenAI request failed: HTTP 401: \{"error":\{"message":"Incorrect API key provided: \[redacted\]/,
    );
    expect(error.message.length).toBeLessThan(300);
    expect(error.message).not.toContain(API_KEY);
    expect(inspect(error)).not.toContain(API_KEY);
  });

  it('names a 500 as an http error', async () => {
    server.setBehavior({ kind: 'error', status: 500, body: 'upstream exploded' });
    const error = await rejection(openai().complete(messages, 'gpt-4o', {}));
    expect(error.message).toBe('OpenAI request failed: HTTP 500: upstream exploded');
  });

  it.each(['headers', 'body'] as const)(
    'times out when the server stalls before the %s end',
    async (stall) => {
      server.setBehavior({ kind: 'slow', delayMs: 5_000, stall });
      const started = Date.now();
      const error = await rejection(openai({ timeoutMs: 200 }).complete(messages, 'gpt-4o', {}));
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(error.kind).toBe('timeout');
      expect(error.message).toBe(
        `OpenAI request timed out after 200 ms (POST ${server.baseUrl}/v1/chat/completions)`,
      );
      expect(error.message).not.toContain(API_KEY);
    },
  );

  it('reports a refused connection as a network error naming the provider', async () => {
    const baseUrl = server.baseUrl;
    await server.close();
    server = await startFakeProviderServer(); // afterEach closes this one
    const error = await rejection(
      new OpenAiProvider({ baseUrl, apiKey: API_KEY, timeoutMs: 2_000 }).complete(messages, 'gpt-4o', {}),
    );
    expect(error.kind).toBe('network');
    expect(error.message).toMatch(
      /^OpenAI request failed \(POST http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions\): .*ECONNREFUSED/,
    );
  });

  it('reports a 200 that is not a chat completion as a bad response', async () => {
    server.setBehavior({ kind: 'error', status: 200, body: '{"choices":[]}' });
    const error = await rejection(openai().complete(messages, 'gpt-4o', {}));
    expect(error.kind).toBe('bad_response');
    expect(error.message).toMatch(
      /^OpenAI returned an unexpected body \(model: .*choices: .*\): \{"choices":\[\]\}$/,
    );
  });

  it('keeps the API key out of inspection and serialization of the provider', () => {
    const provider = openai();
    expect(inspect(provider, { depth: 10, showHidden: true })).not.toContain(API_KEY);
    expect(JSON.stringify(provider)).not.toContain(API_KEY);
  });

  it('rejects a bad connection at construction, without echoing the key', () => {
    expect(() => new OpenAiProvider({ baseUrl: 'api.openai.com', apiKey: API_KEY })).toThrow(
      'OpenAI provider: baseUrl is not a URL: "api.openai.com"',
    );
    expect(() => new OpenAiProvider({ baseUrl: 'ftp://x', apiKey: API_KEY })).toThrow(
      /must be http or https/,
    );
    expect(() => new OpenAiProvider({ baseUrl: server.baseUrl, apiKey: ' ' })).toThrow(
      'OpenAI provider: apiKey is missing',
    );
    expect(() => new OpenAiProvider({ baseUrl: server.baseUrl, apiKey: API_KEY, timeoutMs: 0 })).toThrow(
      /timeoutMs/,
    );
  });
});
