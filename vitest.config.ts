import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // `npm run bench:unit` (vitest bench) only: `vitest run` never collects *.bench.ts as tests.
    benchmark: { include: ['test/bench/**/*.bench.ts'] },
    testTimeout: 30_000,
    // Scans the logs of the whole run for tokens and patient data (test/global/log-scan.ts).
    globalSetup: ['test/global/log-scan.ts'],
    hookTimeout: 30_000,
    // Date handling must not depend on the machine's zone: run everything off UTC.
    env: { TZ: 'America/New_York' },
  },
});
