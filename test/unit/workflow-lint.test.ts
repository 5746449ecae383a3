import path from 'node:path';
import { projectRoot } from '../../src/config/load-dotenv';
import { lintProbes } from '../helpers/lint-probe';

// Lints snippets as if they lived in workflows/, so the determinism rules are proven to fire, not assumed.
const inWorkflows = path.join(projectRoot, 'workflows', 'lint-probe.ts');

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
    'import-x/no-restricted-paths',
  ],
  // Not even types: what a workflow needs from the data layer arrives through activities.
  [
    "import type { Database } from '../db/schema';\nexport type X = Database;",
    'import-x/no-restricted-paths',
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
  // Cycles are import-layers.test.ts's; walking the real import graph from every probe is slow.
  results = lintProbes(
    [
      ...forbidden.map(([code]) => ({ code, filePath: inWorkflows })),
      { code: allowedInWorkflows, filePath: inWorkflows },
      outsideWorkflows,
    ],
    { skipRules: ['import-x/no-cycle'] },
  );
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
