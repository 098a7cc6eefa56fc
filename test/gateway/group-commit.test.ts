import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisClient } from '../../src/redis/connection.js';
import { skuKeys } from '../../src/redis/keys.js';
import { metricValue, newRedis, postJson, preloadSku, scrapeMetrics, serverTracker, testMysql, uniqueSku } from '../helpers.js';

/**
 * Group commit through a real server: a crowd of concurrent buyers of one
 * SKU reaches Redis in far fewer reserve.lua calls than buyers, sells
 * exactly the stock, and `--no-group-commit` makes one call per request.
 */

const { start, stopAll } = serverTracker();
let redis: RedisClient;

beforeAll(() => {
  redis = newRedis();
});
afterAll(async () => {
  await stopAll();
  redis.disconnect();
  await (await testMysql()).end();
});

/** 600 buyers at once for 300 units; what they were answered, and the server's reserve.lua calls and the requests they decided. */
const crowd = async (serveArgs: string[]) => {
  const { url } = await start(serveArgs);
  const { sku } = await preloadSku(redis, { sku: uniqueSku('group'), stock: 300 });
  const answers = await Promise.all(Array.from({ length: 600 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `buyer-${i}`, requestId: `r-${i}` })));
  const metrics = await scrapeMetrics(url);
  return {
    sku,
    created: answers.filter((a) => a.status === 201).length,
    soldOut: answers.filter((a) => a.status === 410).length,
    calls: metricValue(metrics, 'seckill_reserve_call_requests_count'),
    decided: metricValue(metrics, 'seckill_reserve_call_requests_sum'),
  };
};

describe('serve with group commit', () => {
  it('decides a crowd of one SKU in a few reserve.lua calls of many buyers each, selling exactly the stock', async () => {
    const run = await crowd([]);
    expect([run.created, run.soldOut]).toEqual([300, 300]);
    expect(await redis.get(skuKeys(run.sku).stock)).toBe('0');
    expect(await redis.xlen(skuKeys(run.sku).outbox)).toBe(300);
    // Every buyer until the sell-out reached Redis (the rest may be refused locally once it is known).
    expect(run.decided).toBeGreaterThanOrEqual(300);
    expect(run.decided / run.calls).toBeGreaterThanOrEqual(4);
  });

  it('with --no-group-commit makes one reserve.lua call per admitted request', async () => {
    const run = await crowd(['--no-group-commit']);
    expect([run.created, run.soldOut]).toEqual([300, 300]);
    expect(run.decided).toBeGreaterThanOrEqual(300);
    expect(run.calls).toBe(run.decided);
  });
});
