import { defineConfig } from 'vitest/config';
import { TEST_CLUSTER } from './test/test-env.js';

/** Tests that only make sense on a Redis Cluster (slots, masters, failover): the `redis-cluster` project alone runs them. */
const CLUSTER_ONLY = 'test/**/*.cluster.test.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts'],
    // Files run one after another: the pipeline tests run relays and consumers
    // that read every SKU's outbox, and on 2 cores parallel files gain little.
    fileParallelism: false,
    projects: [
      // groupOrder: the projects run one after the other, not side by side (see fileParallelism).
      { extends: true, test: { name: 'redis', include: ['test/**/*.test.ts'], exclude: [CLUSTER_ONLY], sequence: { groupOrder: 0 } } },
      {
        // The core claims once more on a real Redis Cluster: the same tests, every command and process pointed at it.
        extends: true,
        test: {
          name: 'redis-cluster',
          include: [
            'test/sale/reserve.test.ts',
            'test/sale/reserve-batch.test.ts',
            'test/queue/pipeline-e2e.test.ts',
            'test/reconcile/drift.test.ts',
            CLUSTER_ONLY,
          ],
          env: { SECKILL_TEST_REDIS_URL: TEST_CLUSTER.url },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
