// Options every project shares. tsconfig's `isolatedModules` makes ts-jest transpile only; type checking is
// `npm run typecheck`.
const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  testPathIgnorePatterns: ['/node_modules/', '/test/bench/'],
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...shared,
      // Pure logic and in-process fakes: runs with no Temporal, Unleash or Postgres (`npm run test:unit`).
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      globalSetup: '<rootDir>/test/load-env-setup.ts',
    },
    {
      ...shared,
      // Real components. Jest runs a project's global setup only when at least one of its tests is selected,
      // so the stack comes up for these tests and never for a unit-only run.
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/workflow/**/*.test.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
  // Integration tests share one stack and Postgres server; two workers suit this 2-core machine.
  maxWorkers: 2,
  // Global only: jest-circus reads the timeout from the global config, a project's own is ignored.
  testTimeout: 120_000,
};
