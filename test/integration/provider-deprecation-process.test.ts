import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startFakeProviderServer, type FakeProviderServer } from '../helpers/fake-provider-server';

/**
 * Jest gives each test file its own `process` object that never hears Node's real `'warning'` events, so the
 * once-per-process promise is checked where it is made: in a fresh Node process, with a real listener.
 */
const run = promisify(execFile);
const TSX = resolve(__dirname, '../../node_modules/.bin/tsx');
const OPENAI_PROVIDER = resolve(__dirname, '../../src/providers/openai-provider');
const CALLS = 30;

const CHILD = `
import { OpenAiProvider } from ${JSON.stringify(OPENAI_PROVIDER)};

async function main(): Promise<void> {
  const warnings: { name: string; code?: string; message: string }[] = [];
  process.on('warning', (warning: Error & { code?: string }) => {
    warnings.push({ name: warning.name, code: warning.code, message: warning.message });
  });
  const provider = new OpenAiProvider({ baseUrl: process.env.FAKE_BASE_URL!, apiKey: 'sk-child', timeoutMs: 5000 });
  const complete = provider.complete as (...args: unknown[]) => Promise<unknown>;
  const messages = [{ role: 'user', content: 'Hi' }];
  for (let i = 0; i < ${CALLS}; i += 1) {
    await complete.call(provider, messages, 'gpt-4o', 0.2, 64);
    await complete.call(provider, messages, 'gpt-4o', { temperature: 0.2, max_tokens: 64 });
  }
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  process.stdout.write(JSON.stringify(warnings));
}

void main();
`;

let server: FakeProviderServer;
let dir: string;

beforeAll(async () => {
  server = await startFakeProviderServer();
  dir = await mkdtemp(join(tmpdir(), 'ucr-deprecation-'));
  await writeFile(join(dir, 'child.ts'), CHILD);
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function runChild(
  nodeOptions: string,
): Promise<{ warnings: { name: string; code?: string }[]; stderr: string }> {
  const { stdout, stderr } = await run(TSX, [join(dir, 'child.ts')], {
    env: { ...process.env, FAKE_BASE_URL: server.baseUrl, NODE_OPTIONS: nodeOptions },
    timeout: 60_000,
  });
  return { warnings: JSON.parse(stdout) as { name: string; code?: string }[], stderr };
}

it('warns exactly once per process, with a DeprecationWarning, across many old-form calls', async () => {
  const before = server.requests.length;
  const { warnings, stderr } = await runChild('');
  expect(warnings).toEqual([
    expect.objectContaining({ name: 'DeprecationWarning', code: 'UCR_DEP_POSITIONAL_COMPLETE' }),
  ]);
  expect(stderr.match(/\[UCR_DEP_POSITIONAL_COMPLETE\] DeprecationWarning/g)).toHaveLength(1);
  expect(server.requests.length - before).toBe(2 * CALLS);
  const bodies = server.requests.slice(before).map((request) => JSON.stringify(request.body));
  expect(new Set(bodies).size).toBe(1); // old and new form sent identical requests
});

it('respects --no-deprecation like any Node deprecation', async () => {
  const { warnings, stderr } = await runChild('--no-deprecation');
  expect(warnings).toEqual([]);
  expect(stderr).not.toContain('UCR_DEP_POSITIONAL_COMPLETE');
});
