// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import { importX, createNodeResolver } from 'eslint-plugin-import-x';
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

// Layers (SPEC §2): db/ holds schema and may import only pure helpers from src/; workflows/ never reach db/.
// The zones are checked on resolved files, so `../db`, `../../db/x` and `import type` are all caught.
const dbMayNotImport = [
  'activities',
  'workflows',
  'src/reader',
  'src/service',
  'src/cli',
  'src/worker',
  'src/dev',
  'src/demo',
];
const layerZones = [
  ...dbMayNotImport.map((from) => ({
    target: './db',
    from: `./${from}`,
    message: 'db/ holds schema and shared queries; it may import only pure helpers from src/ (SPEC §2).',
  })),
  {
    target: './workflows',
    from: './db',
    message: 'Workflows never import db/, not even types: the data they need comes through activities.',
  },
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
    // eslint-import-resolver-typescript is not installed: the plugin's own Node resolver finds the relative
    // `.ts` imports this project uses (it has no path aliases).
    files: ['src/**/*.ts', 'db/**/*.ts', 'activities/**/*.ts', 'workflows/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js', '.cjs', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'] })],
    },
    rules: {
      // Type-only imports are skipped by this rule; the import-layers unit test checks them too.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // Zones are relative to this file, so linting from another directory (an editor) checks the same paths.
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: layerZones }],
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
                '**/src/dev/**',
                '**/src/cli/**',
                '**/src/worker/**',
              ],
              allowTypeImports: true,
              message:
                'Workflows may only `import type` from activities; activities run through proxyActivities.',
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
