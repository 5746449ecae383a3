/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    // tsconfig's `isolatedModules` makes ts-jest transpile only; type checking is `npm run typecheck`.
    '^.+\\.ts$': 'ts-jest',
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/test/bench/'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // Integration tests share one stack and Postgres server; two workers suit this 2-core machine.
  maxWorkers: 2,
  testTimeout: 120_000,
};
