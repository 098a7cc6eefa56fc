import { afterAll, describe, expect, it } from 'vitest';
import type { OrderEvent } from '../../src/sale/order-event.js';
import { applyOrderBatch } from '../../src/store/order-batch.js';
import { getInventory } from '../../src/store/inventory.js';
import { newRedis, preloadSku, testMysql, uniqueSku } from '../helpers.js';

const redis = newRedis();
afterAll(() => redis.quit());

let serial = 0;
const event = (sku: string, userId: string, qty = 1, orderId = `${sku}.order${String(serial++).padStart(10, '0')}`): OrderEvent => ({
  orderId,
  sku,
  userId,
  qty,
  requestId: '',
  createdAt: Date.now(),
});

const apply = async (events: OrderEvent[]) => applyOrderBatch(await testMysql(), events, 60_000);
const stockOf = async (sku: string) => (await getInventory(await testMysql(), sku))!.stock;
const ordersOf = async (sku: string) => {
  const [rows] = await (await testMysql()).query('SELECT order_id FROM orders WHERE sku = ?', [sku]);
  return (rows as { order_id: string }[]).map((r) => r.order_id).sort();
};

describe('applyOrderBatch', () => {
  it('writes a batch of new orders and takes their units once', async () => {
    const sku = uniqueSku('batch');
    await preloadSku(redis, { sku, stock: 10, limit: 3 });
    const events = [event(sku, 'a'), event(sku, 'b', 3), event(sku, 'c')];
    expect(await apply(events)).toEqual({ applied: events, duplicates: [], rejected: [] });
    expect(await stockOf(sku)).toBe(5);
    expect(await ordersOf(sku)).toEqual(events.map((e) => e.orderId).sort());
  });

  it('changes nothing for a redelivered batch, and applies only what is new in a mixed one', async () => {
    const sku = uniqueSku('redeliver');
    await preloadSku(redis, { sku, stock: 10 });
    const first = [event(sku, 'a'), event(sku, 'b')];
    await apply(first);
    expect(await apply(first)).toEqual({ applied: [], duplicates: first, rejected: [] });
    const fresh = event(sku, 'c');
    expect(await apply([...first, fresh])).toEqual({ applied: [fresh], duplicates: first, rejected: [] });
    expect(await stockOf(sku)).toBe(7);
  });

  it('applies an order sent twice in one batch once', async () => {
    const sku = uniqueSku('twice');
    await preloadSku(redis, { sku, stock: 10 });
    const e = event(sku, 'a');
    expect(await apply([e, e])).toEqual({ applied: [e], duplicates: [e], rejected: [] });
    expect(await stockOf(sku)).toBe(9);
  });

  it('refuses, with the reason and without writing them, what the database cannot take', async () => {
    const sku = uniqueSku('refuse');
    await preloadSku(redis, { sku, stock: 3, limit: 2 });
    const held = event(sku, 'holder');
    await apply([held]);
    const reused = { ...event(sku, 'someone-else'), orderId: held.orderId };
    const secondLive = event(sku, 'holder');
    const sameUserTwice = [event(sku, 'twin'), event(sku, 'twin')];
    const unknown = event(uniqueSku('nowhere'), 'x');
    const fits = event(sku, 'fits');
    const tooMany = event(sku, 'late', 2); // 1 unit left after `fits`
    const result = await apply([reused, secondLive, ...sameUserTwice, unknown, fits, tooMany]);
    expect(result.applied).toEqual([sameUserTwice[0], fits]);
    expect(result.duplicates).toEqual([]);
    expect(result.rejected.map((r) => [r.event, r.reason])).toEqual([
      [reused, 'ORDER_ID_REUSED'],
      [secondLive, 'USER_HOLDS_ORDER'],
      [sameUserTwice[1], 'USER_HOLDS_ORDER'],
      [unknown, 'UNKNOWN_SKU'],
      [tooMany, 'OUT_OF_STOCK'],
    ]);
    expect(await stockOf(sku)).toBe(0);
    expect(await ordersOf(sku)).toEqual([held.orderId, sameUserTwice[0]!.orderId, fits.orderId].sort());
  });

  it('never takes more than the stock when many batches for one SKU run at once', async () => {
    const sku = uniqueSku('concurrent');
    await preloadSku(redis, { sku, stock: 50 });
    const batches = Array.from({ length: 10 }, (_, b) => Array.from({ length: 10 }, (_, i) => event(sku, `u${b}-${i}`)));
    const results = await Promise.all(batches.map((batch) => apply(batch)));
    const applied = results.flatMap((r) => r.applied);
    expect(applied).toHaveLength(50);
    expect(results.flatMap((r) => r.rejected).every((r) => r.reason === 'OUT_OF_STOCK')).toBe(true);
    expect(await stockOf(sku)).toBe(0);
    expect(await ordersOf(sku)).toEqual(applied.map((e) => e.orderId).sort());
  });
});
