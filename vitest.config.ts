import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Date handling must not depend on the machine's zone: run everything off UTC.
    env: { TZ: 'America/New_York' },
  },
});
