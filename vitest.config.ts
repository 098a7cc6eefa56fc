import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts'],
    // Files run one after another: the pipeline tests run relays and consumers
    // that read every SKU's outbox, and on 2 cores parallel files gain little.
    fileParallelism: false,
  },
});
