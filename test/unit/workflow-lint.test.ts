import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/config/load-dotenv';

// Lints snippets as if they lived in workflows/, so the determinism rules are proven to fire, not assumed.
// ESLint loads its flat config with a dynamic import, which jest's module sandbox refuses, so the snippets
// are linted by the ESLint API in one child Node process.
const inWorkflows = path.join(projectRoot, 'workflows', 'lint-probe.ts');

const LINT_SCRIPT = `
const { ESLint } = await import('eslint');
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const probes = JSON.parse(Buffer.concat(chunks).toString());
const eslint = new ESLint({ cwd: process.cwd() });
const out = [];
for (const { code, filePath } of probes) {
  const [result] = await eslint.lintText(code, { filePath });
  out.push(result.messages.map((m) => m.ruleId ?? 'fatal: ' + m.message));
}
process.stdout.write(JSON.stringify(out));
`;

function lint(probes: { code: string; filePath: string }[]): string[][] {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', LINT_SCRIPT], {
    cwd: projectRoot,
    input: JSON.stringify(probes),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`eslint probe failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as string[][];
}

const forbidden: [string, string][] = [
  [
    "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;",
    '@typescript-eslint/no-restricted-imports',
  ],
  ["import http from 'http';\nexport const x = http;", '@typescript-eslint/no-restricted-imports'],
  ["import { Pool } from 'pg';\nexport const x = Pool;", '@typescript-eslint/no-restricted-imports'],
  [
    "import { Client } from '@temporalio/client';\nexport const x = Client;",
    '@typescript-eslint/no-restricted-imports',
  ],
  [
    "import { createActivities } from '../activities';\nexport const x = createActivities;",
    '@typescript-eslint/no-restricted-imports',
  ],
  [
    "import { createDatabase } from '../db/create-database';\nexport const x = createDatabase;",
    '@typescript-eslint/no-restricted-imports',
  ],
  ['export const now = Date.now();', 'no-restricted-properties'],
  ['export const r = Math.random();', 'no-restricted-properties'],
  ['export const d = new Date();', 'no-restricted-syntax'],
  ['export const e = process.env.X;', 'no-restricted-globals'],
  ['setTimeout(() => undefined, 10);', 'no-restricted-globals'],
  ["export const f = fetch('http://example.invalid');", 'no-restricted-globals'],
];

const allowedInWorkflows = [
  "import type { RolloutActivities } from '../activities';",
  "import { proxyActivities, sleep } from '@temporalio/workflow';",
  "import { toSnakeCase } from '../src/naming/to-snake-case';",
  'export const acts = proxyActivities<RolloutActivities>({ startToCloseTimeout: 1000 });',
  "export const k = toSnakeCase('maxTokens');",
  'export const wait = () => sleep(10);',
].join('\n');

const outsideWorkflows = {
  code: 'export const now = Date.now();',
  filePath: path.join(projectRoot, 'activities', 'lint-probe.ts'),
};

let results: string[][];
beforeAll(() => {
  results = lint([
    ...forbidden.map(([code]) => ({ code, filePath: inWorkflows })),
    { code: allowedInWorkflows, filePath: inWorkflows },
    outsideWorkflows,
  ]);
});

test.each(forbidden.map(([code, rule], index) => [code, rule, index] as const))(
  'workflow code may not use: %s',
  (_code, rule, index) => {
    expect(results[index]).toContain(rule);
  },
);

test('type-only imports of activities and pure shared code are allowed in workflows', () => {
  expect(results[forbidden.length]).toEqual([]);
});

test('ambient time is fine outside workflows/', () => {
  expect(results[forbidden.length + 1]).toEqual([]);
});
