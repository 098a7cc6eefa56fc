import { afterAll, describe, expect, it } from 'vitest';
import { reserveByConditionalUpdate } from '../../src/store/baselines.js';
import { readSkuRecord } from '../../src/store/orders.js';
import { newRedis, preloadSku, testMysql, uniqueSku } from '../helpers.js';

const redis = newRedis();
afterAll(async () => {
  redis.disconnect();
  await (await testMysql()).end();
});

describe('readSkuRecord', () => {
  it('reads stock and orders as of one moment: while 600 buys commit, every read balances (initial = stock + units in live orders)', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('snapshot'), stock: 600, limit: 1 });
    const mysql = await testMysql();
    let buying = true;
    const buys = Promise.all(
      Array.from({ length: 8 }, async (_, lane) => {
        for (let i = lane; i < 600; i += 8) {
          await reserveByConditionalUpdate(mysql, {
            sku,
            userId: `u${i}`,
            qty: 1,
            requestId: `r${i}`,
            orderId: `${sku}.snapshot${String(i).padStart(6, '0')}`,
            now: Date.now(),
            payTimeoutMs: 60_000,
          });
        }
      }),
    ).finally(() => (buying = false));
    const unbalanced: string[] = [];
    let reads = 0;
    while (buying) {
      const { inventory, orders } = await readSkuRecord(mysql, sku);
      const live = orders.filter((o) => o.status !== 'CANCELLED').reduce((n, o) => n + o.qty, 0);
      reads += 1;
      if (inventory!.initialStock !== inventory!.stock + live) unbalanced.push(`stock ${inventory!.stock} + live ${live}`);
    }
    await buys;
    expect(reads).toBeGreaterThan(10);
    expect(unbalanced).toEqual([]);
  });
});
