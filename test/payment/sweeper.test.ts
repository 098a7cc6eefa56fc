import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { OwnRedis } from '../../src/bench/servers/own-redis.js';
import { createPipelineMetrics } from '../../src/queue/metrics.js';
import { sweepOnce } from '../../src/payment/sweeper.js';
import { reconcileSku } from '../../src/reconcile/drift.js';
import { SKU_INDEX_KEY, skuKeys } from '../../src/redis/keys.js';
import { Reservations } from '../../src/sale/reservations.js';
import { applyOrderBatch } from '../../src/store/order-batch.js';
import type { OrderColumns, Row } from '../../src/store/rows.js';
import type { OrderEvent } from '../../src/sale/order-event.js';
import { newRedis, preloadSku, startSeckill, testMysql, uniqueSku, waitFor } from '../helpers.js';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/connection.js';

/** The payment timeout returns an unpaid order's units to both stores, exactly once, and only for sales its Redis holds. */

const redis = newRedis();
const reservations = new Reservations(redis);
// Only this file's SKUs are on sale here: a consumer it starts must not sweep or consume other tests' sales.
beforeEach(() => redis.del(SKU_INDEX_KEY));
afterAll(async () => {
  redis.disconnect();
  await (await testMysql()).end();
});

/** Reserves for `users` in Redis and writes the orders to MySQL with a payment window already over, as the consumer would. */
const expiredOrders = async (sku: string, users: string[]): Promise<string[]> => {
  const events: OrderEvent[] = [];
  for (const userId of users) {
    const { orderId } = await reservations.reserve({ sku, userId, qty: 1 });
    events.push(JSON.parse((await redis.hget(skuKeys(sku).reservations, orderId!))!) as OrderEvent);
  }
  await applyOrderBatch(await testMysql(), events, 1, Date.now() - 60_000);
  await reservations.markPersisted(
    sku,
    events.map((e) => e.orderId),
  );
  return events.map((e) => e.orderId);
};

const rowsOf = async (sku: string) => {
  const [rows] = await (
    await testMysql()
  ).query<Row<Pick<OrderColumns, 'order_id' | 'status' | 'released_to_sale'>>[]>(
    'SELECT order_id, status, released_to_sale FROM orders WHERE sku = ? ORDER BY order_id',
    [sku],
  );
  return rows.map((r) => [r.order_id, r.status, r.released_to_sale]);
};

const deps = (r: RedisClient) => ({ redis: r, reservations: new Reservations(r), metrics: createPipelineMetrics(), log: () => {} });

describe('the payment-timeout sweeper', () => {
  it('returns the units to MySQL and Redis once, even when killed between the two steps (drift 0 after it starts again)', async () => {
    const sku = uniqueSku('sweep-crash');
    await preloadSku(redis, { sku, stock: 5 });
    const ids = await expiredOrders(sku, ['a', 'b']);
    const crashing = await startSeckill('consume', ['--queue', 'redis', '--sweep-interval', '100'], { SECKILL_CRASH_AT: 'sweeper:after-cancel' });
    expect(await crashing.exited).toBe(null); // cancelled in MySQL, died before release.lua
    expect((await rowsOf(sku)).map(([, status, released]) => [status, released])).toEqual([
      ['CANCELLED', 0],
      ['CANCELLED', 0],
    ]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('3');

    const next = await startSeckill('consume', ['--queue', 'redis', '--sweep-interval', '100']);
    try {
      await waitFor(async () => (await redis.get(skuKeys(sku).stock)) === '5', 10_000, 'the units back in Redis');
      await waitFor(async () => (await rowsOf(sku)).every(([, , released]) => released === 1), 10_000, 'both marked released');
    } finally {
      await next.stop();
    }
    const report = await reconcileSku({ redis, mysql: await testMysql() }, sku, 0);
    expect(report).toMatchObject({ drift: 0, redisStock: 5, mysqlStock: 5, findings: [] });
    for (const id of ids) expect((await reservations.get(sku, id))!.reason).toBe('PAYMENT_TIMEOUT');
  }, 60_000);

  it('leaves alone a sale its Redis does not hold: nothing cancelled, nothing marked, though MySQL is shared', async () => {
    const sku = uniqueSku('sweep-foreign');
    await preloadSku(redis, { sku, stock: 5 });
    await expiredOrders(sku, ['a']);
    const other = await OwnRedis.start(); // another sale's Redis, on the same MySQL
    const client = new Redis(other.url);
    try {
      await sweepOnce({ mysql: await testMysql(), ...deps(client) });
      expect((await rowsOf(sku)).map(([, status, released]) => [status, released])).toEqual([['PENDING', 0]]);
    } finally {
      client.disconnect();
      await other.stop();
    }
    // Its own sweeper does the work.
    await sweepOnce({ mysql: await testMysql(), ...deps(redis) });
    expect((await rowsOf(sku)).map(([, status, released]) => [status, released])).toEqual([['CANCELLED', 1]]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('5');
  });

  it('marks an order whose reservation its Redis does not know as unknown to Redis, not released (reconcile reports it)', async () => {
    const sku = uniqueSku('sweep-unknown');
    await preloadSku(redis, { sku, stock: 5 });
    const [orderId] = await expiredOrders(sku, ['a']);
    await redis.hdel(skuKeys(sku).reservations, orderId); // as after a Redis restart without persistence
    await sweepOnce({ mysql: await testMysql(), ...deps(redis) });
    expect(await rowsOf(sku)).toEqual([[orderId, 'CANCELLED', 2]]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('4');
    expect(await redis.sismember(SKU_INDEX_KEY, sku)).toBe(1);
  });
});
