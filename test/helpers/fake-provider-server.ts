import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

/**
 * - `ok`: a canned OpenAI- or Anthropic-shaped answer, chosen by the path's ending (so a baseUrl may carry a
 *   prefix), echoing the requested model.
 * - `error`: this status and body.
 * - `slow`: waits `delayMs` before answering `ok` (`stall: 'body'` sends the headers first, then waits).
 */
export type FakeBehavior =
  | { kind: 'ok' }
  | { kind: 'error'; status: number; body: string }
  | { kind: 'slow'; delayMs: number; stall?: 'headers' | 'body' };

export interface FakeProviderServer {
  /** `http://127.0.0.1:<port>`, to pass as an adapter's baseUrl. */
  baseUrl: string;
  requests: RecordedRequest[];
  /** Applies to every following request until changed. */
  setBehavior(behavior: FakeBehavior): void;
  close(): Promise<void>;
}

export const FAKE_OPENAI_TEXT = 'Hello from the fake OpenAI.';
export const FAKE_ANTHROPIC_TEXT = 'Hello from the fake Anthropic.';

function cannedAnswer(path: string, body: unknown): { status: number; json: unknown } {
  const model = (body as { model?: unknown } | null)?.model ?? 'unknown';
  if (path.endsWith('/v1/chat/completions')) {
    return {
      status: 200,
      json: {
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: `${String(model)}-2024-08-06`,
        choices: [
          { index: 0, message: { role: 'assistant', content: FAKE_OPENAI_TEXT }, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
      },
    };
  }
  if (path.endsWith('/v1/messages')) {
    return {
      status: 200,
      json: {
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        model,
        content: [
          { type: 'thinking', thinking: 'hidden reasoning', signature: 'sig' },
          { type: 'text', text: FAKE_ANTHROPIC_TEXT },
        ],
        stop_reason: 'max_tokens',
        stop_sequence: null,
        usage: { input_tokens: 21, output_tokens: 9 },
      },
    };
  }
  return { status: 404, json: { error: { message: `no route ${path}` } } };
}

function send(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(text);
}

/**
 * A local stand-in for the OpenAI and Anthropic HTTP APIs on 127.0.0.1 (a free port), recording every
 * request, so adapter tests assert the exact bytes sent and nothing leaves the machine.
 *
 * @example
 * const server = await startFakeProviderServer();
 * const openai = new OpenAiProvider({ baseUrl: server.baseUrl, apiKey: 'sk-test' });
 * await openai.complete(messages, 'gpt-4o', { temperature: 0.2 });
 * expect(server.requests[0]?.body).toMatchObject({ temperature: 0.2 });
 * await server.close();
 */
export async function startFakeProviderServer(): Promise<FakeProviderServer> {
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let behavior: FakeBehavior = { kind: 'ok' };

  const later = (ms: number, action: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      action();
    }, ms);
    timers.add(timer);
  };

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Kept as text: a test may want to see a malformed body.
      }
      const path = request.url ?? '';
      requests.push({ method: request.method ?? '', path, headers: request.headers, body });
      const current = behavior;
      if (current.kind === 'error') {
        send(response, current.status, current.body);
        return;
      }
      const answer = cannedAnswer(path, body);
      const answerText = JSON.stringify(answer.json);
      if (current.kind === 'ok') {
        send(response, answer.status, answerText);
      } else if (current.stall === 'body') {
        response.writeHead(answer.status, { 'content-type': 'application/json' });
        response.write(answerText.slice(0, 10));
        later(current.delayMs, () => response.end(answerText.slice(10)));
      } else {
        later(current.delayMs, () => send(response, answer.status, answerText));
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    setBehavior(next) {
      behavior = next;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
