import { defineConfig } from 'vitest/config';

// Runs the contract tests without the root config's globalSetup (Postgres + Temporal are not needed here):
//   npx vitest run test/contracts/contracts.test.ts --config test/contracts/vitest.standalone.config.ts
export default defineConfig({
  test: {
    include: ['test/contracts/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
