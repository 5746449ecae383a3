import { AnthropicProvider } from '../../src/providers/anthropic-provider';
import type { ChatMessage, CompletionResult } from '../../src/providers/llm-provider';
import { ProviderError } from '../../src/providers/provider-error';
import { resetDeprecationWarningForTests } from '../../src/providers/positional-complete-deprecation';
import {
  FAKE_ANTHROPIC_TEXT,
  startFakeProviderServer,
  type FakeProviderServer,
} from '../helpers/fake-provider-server';

const API_KEY = 'sk-ant-test-0123456789SECRET';
const messages: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Weather in Oslo?' },
  { role: 'assistant', content: 'Let me check.' },
  { role: 'user', content: 'Thanks.' },
];
const conversation = messages.filter((message) => message.role !== 'system');
const openAiTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather now',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  },
};
const anthropicTool = {
  name: 'get_weather',
  description: 'Weather now',
  input_schema: { type: 'object', properties: { city: { type: 'string' } } },
};

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

const anthropic = (options: Partial<ConstructorParameters<typeof AnthropicProvider>[0]> = {}) =>
  new AnthropicProvider({ baseUrl: server.baseUrl, apiKey: API_KEY, timeoutMs: 5_000, ...options });

/** The deprecated positional form, as untyped legacy callers make it. */
const legacyComplete = (provider: AnthropicProvider, ...args: unknown[]) =>
  (provider.complete as (...args: unknown[]) => Promise<CompletionResult>)(...args);

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('Anthropic adapter request', () => {
  it('sends every supported parameter under its Messages API name', async () => {
    const result = await anthropic().complete(
      messages,
      'claude-sonnet-4-5',
      {
        temperature: 1,
        max_tokens: 8192,
        top_p: 0.95,
        frequency_penalty: 0.5,
        presence_penalty: 0.5,
        stop_sequences: ['END'],
        system_prompt: 'Answer in English.',
        stream: true,
      },
      { thinking_mode: true, thinking_tokens: 4096, reasoning_effort: 'high', chain_of_thought: true },
    );

    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/v1/messages');
    expect(request?.headers['x-api-key']).toBe(API_KEY);
    expect(request?.headers['anthropic-version']).toBe('2023-06-01');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 8192,
      system: 'Answer in English.\n\nYou are terse.',
      messages: conversation,
      temperature: 1,
      top_p: 0.95,
      stop_sequences: ['END'],
      thinking: { type: 'enabled', budget_tokens: 4096 },
    });
    expect(result).toEqual({
      text: FAKE_ANTHROPIC_TEXT,
      model: 'claude-sonnet-4-5',
      finishReason: 'length',
      usage: { inputTokens: 21, outputTokens: 9 },
    });
  });

  it('sends top_k, and max_tokens 1024 when none is given', async () => {
    await anthropic().complete([{ role: 'user', content: 'Hi' }], 'claude-haiku-4-5', { top_k: 40 });
    expect(server.requests[0]?.body).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'Hi' }],
      top_k: 40,
    });
  });

  it('honours a configured default max_tokens', async () => {
    await anthropic({ defaultMaxTokens: 300 }).complete(conversation, 'claude', {});
    expect(server.requests[0]?.body).toMatchObject({ max_tokens: 300 });
  });

  it('makes room for the thinking budget when max_tokens is left to the default', async () => {
    await anthropic().complete(conversation, 'claude', {}, { thinking_mode: true });
    expect(server.requests[0]?.body).toMatchObject({
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
    });
  });

  it('refuses a max_tokens that leaves no room after the thinking budget, sending nothing', async () => {
    const error = await rejection(
      anthropic().complete(
        conversation,
        'claude',
        { max_tokens: 2000 },
        { thinking_mode: true, thinking_tokens: 2000 },
      ),
    );
    expect(error.kind).toBe('invalid_request');
    expect(error.message).toMatch(
      /^Anthropic needs max_tokens \(2000\) greater than thinking_tokens \(2000\)/,
    );
    expect(server.requests).toHaveLength(0);
  });

  it('turns tool messages into tool_result blocks', async () => {
    await anthropic().complete(
      [
        { role: 'user', content: 'Weather?' },
        { role: 'tool', content: '{"temp":3}', tool_call_id: 'toolu_1' },
      ],
      'claude',
      {},
    );
    expect((server.requests[0]?.body as { messages: unknown }).messages).toEqual([
      { role: 'user', content: 'Weather?' },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"temp":3}' }] },
    ]);
    const error = await rejection(anthropic().complete([{ role: 'tool', content: 'x' }], 'claude', {}));
    expect(error.message).toBe('Anthropic needs tool_call_id on tool messages (it becomes tool_use_id)');
  });

  it('refuses a conversation of system messages only', async () => {
    const error = await rejection(anthropic().complete([{ role: 'system', content: 'x' }], 'claude', {}));
    expect(error.kind).toBe('invalid_request');
    expect(server.requests).toHaveLength(0);
  });
});

describe('Anthropic adapter through the deprecated positional form', () => {
  it('sends the same request as the equivalent current-form call', async () => {
    const provider = anthropic();
    await legacyComplete(provider, messages, 'claude', 0.4, 500, false);
    await provider.complete(messages, 'claude', { temperature: 0.4, max_tokens: 500, stream: false });
    const [legacy, current] = server.requests;
    expect(legacy?.body).toEqual(current?.body);
    expect(legacy?.headers['x-api-key']).toEqual(current?.headers['x-api-key']);
    expect(legacy?.body).toEqual({
      model: 'claude',
      max_tokens: 500,
      system: 'You are terse.',
      messages: conversation,
      temperature: 0.4,
    });
    expect(emitWarning).toHaveBeenCalledTimes(1);
  });

  it('converts OpenAI-shaped tools to Anthropic tools', async () => {
    await legacyComplete(anthropic(), conversation, 'claude', null, 100, null, [openAiTool]);
    expect(server.requests[0]?.body).toEqual({
      model: 'claude',
      max_tokens: 100,
      messages: conversation,
      tools: [anthropicTool],
    });
  });
});

describe('Anthropic tool_choice mapping', () => {
  // The current form carries no tools (SPEC §6), so tool_choice only goes out with positional-form tools;
  // these drive the adapter directly through its protected request builder.
  class Inspectable extends AnthropicProvider {
    body(params: object): Record<string, unknown> {
      return this.buildBody({
        messages: conversation,
        model: 'claude',
        params,
        reasoning: {},
        tools: [anthropicTool],
      });
    }
  }
  const inspectable = () => new Inspectable({ baseUrl: server.baseUrl, apiKey: API_KEY });

  it.each([
    [{ tool_choice: 'auto' }, { type: 'auto' }],
    [{ tool_choice: 'required' }, { type: 'any' }],
    [{ tool_choice: 'none' }, { type: 'none' }],
    [
      { tool_choice: { type: 'function', function: { name: 'get_weather' } } },
      { type: 'tool', name: 'get_weather' },
    ],
    [{ parallel_tool_calls: false }, { type: 'auto', disable_parallel_tool_use: true }],
    [
      { tool_choice: 'required', parallel_tool_calls: false },
      { type: 'any', disable_parallel_tool_use: true },
    ],
    [{}, undefined],
  ])('maps %j to %j', (params, expected) => {
    expect(inspectable().body(params).tool_choice).toEqual(expected);
  });

  it('sends no tool_choice without tools', async () => {
    await anthropic().complete(conversation, 'claude', { tool_choice: 'required' });
    expect(server.requests[0]?.body).not.toHaveProperty('tool_choice');
  });
});

describe('Anthropic adapter failures', () => {
  it('names provider, status and a short body excerpt, but never the API key the server echoed', async () => {
    server.setBehavior({
      kind: 'error',
      status: 500,
      body: JSON.stringify({
        type: 'error',
        error: { type: 'api_error', message: `Internal error for key ${API_KEY}` },
      }),
    });
    const error = await rejection(anthropic().complete(conversation, 'claude', {}));
    expect(error.kind).toBe('http');
    expect(error.status).toBe(500);
    expect(error.message).toBe(
      'Anthropic request failed: HTTP 500: {"type":"error","error":{"type":"api_error","message":"Internal error for key [redacted]"}}',
    );
    expect(error.message).not.toContain(API_KEY);
  });

  it('times out on a slow server, naming the provider', async () => {
    server.setBehavior({ kind: 'slow', delayMs: 5_000 });
    const error = await rejection(anthropic({ timeoutMs: 150 }).complete(conversation, 'claude', {}));
    expect(error.kind).toBe('timeout');
    expect(error.message).toBe(
      `Anthropic request timed out after 150 ms (POST ${server.baseUrl}/v1/messages)`,
    );
  });
});
