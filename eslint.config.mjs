// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import { builtinModules } from 'node:module';

// Workflow code must stay deterministic: Temporal replays it from history, so no Node built-ins, no I/O
// libraries and no ambient clock or randomness (the SDK's `sleep`, `uuid4` and workflow time are the only ones).
const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);
const ioPackages = [
  'pg',
  'kysely',
  'unleash-client',
  'pino',
  'prom-client',
  'yaml',
  'commander',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', '.tools/', '.state/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...ioPackages].map((name) => ({
            name,
            message: 'Workflow code is deterministic: no Node built-ins or I/O (SPEC §2).',
          })),
          patterns: [
            {
              group: [
                '**/activities',
                '**/activities/**',
                '../db/**',
                '**/db/**',
                '**/src/dev/**',
                '**/src/cli/**',
                '**/src/worker/**',
              ],
              allowTypeImports: true,
              message:
                'Workflows may only `import type` from activities and db; activities run through proxyActivities.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['process', 'require', 'setTimeout', 'setInterval', 'fetch', 'Buffer', '__dirname'].map(
          (name) => ({
            name,
            message: 'Not available to deterministic workflow code; use the Temporal workflow API.',
          }),
        ),
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Date',
          property: 'now',
          message: 'Use workflow time from the SDK (Date in the sandbox is replayed), not Date.now.',
        },
        {
          object: 'Math',
          property: 'random',
          message: "Use the SDK's uuid4 or a seeded value, not Math.random.",
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Use workflow time from the SDK, not new Date().',
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  prettier,
);
