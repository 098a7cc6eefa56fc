import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import type { ReconcileReport } from '../../src/reconcile/report.js';
import { newRedis, preloadSku, runSeckill, startServer, uniqueSku, waitFor } from '../helpers.js';
import { buyMany, closeStats, mysqlStock, ordersOf, redisStock, startPipeline } from '../queue/pipeline-helpers.js';

const redis = newRedis();
afterAll(() => Promise.all([redis.quit(), closeStats()]));

const fix = (sku: string) => runSeckill(['reconcile', '--sku', sku, '--fix', '--queue', 'redis', '--grace', '5', '--freeze-timeout', '20', '--json']);

describe('reconcile --fix during live traffic', () => {
  it('never oversells: a reset from MySQL in the middle of a sale sells every unit exactly once', async () => {
    const sku = uniqueSku('live-fix');
    await preloadSku(redis, { sku, stock: 200 });
    const server = await startServer();
    const pipeline = await startPipeline('redis', `t-live-${Date.now()}.`);
    try {
      const buying = buyMany(server.url, sku, 1_500, 10);
      // Mid-sale, Redis loses 7 units MySQL still has (as a lost release would), and reconcile
      // repairs it while buyers keep coming: the units go back on sale, and no unit is sold twice.
      await waitFor(async () => (await redisStock(sku)) < 150, 30_000, 'the sale under way');
      await redis.decrby(skuKeys(sku).stock, 7);
      const repaired = JSON.parse((await fix(sku)).stdout) as ReconcileReport;
      // The crowd may all have been answered before the repair ended; buyers who come after it
      // find the 7 units back on sale.
      const answers = [...(await buying), ...(await buyMany(server.url, sku, 300, 10, 'late'))];
      expect(repaired.fixed?.[0]?.reset?.reset).toBe(true);

      const sold = answers.filter((a) => a.status === 201);
      expect(answers.every((a) => [201, 410, 503].includes(a.status))).toBe(true);
      expect(sold).toHaveLength(200);
      await waitFor(async () => (await ordersOf(sku)).length === sold.length, 30_000, 'every sold unit in MySQL');
      expect((await ordersOf(sku)).map((o) => o.order_id).sort()).toEqual(sold.map((a) => a.orderId).sort());
      expect(await mysqlStock(sku)).toBe(0);
      expect(await redisStock(sku)).toBe(0);
    } finally {
      await Promise.all([server.stop(), pipeline.stop()]);
    }
  }, 120_000);
});
