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

const apply = async (events: OrderEvent[], now?: number) => applyOrderBatch(await testMysql(), events, 60_000, now);
const stockOf = async (sku: string) => (await getInventory(await testMysql(), sku))!.stock;
const rowsOf = async (sku: string) => {
  const [rows] = await (await testMysql()).query('SELECT order_id, status, reason, user_id, qty FROM orders WHERE sku = ? ORDER BY order_id', [sku]);
  return rows as { order_id: string; status: string; reason: string | null; user_id: string; qty: number }[];
};
const ordersOf = async (sku: string) =>
  (await rowsOf(sku))
    .filter((r) => r.status !== 'CANCELLED')
    .map((r) => r.order_id)
    .sort();
const unitsHeldBy = async (sku: string, userId: string) => {
  const [rows] = await (await testMysql()).query('SELECT units FROM holdings WHERE sku = ? AND user_id = ?', [sku, userId]);
  return (rows as { units: number }[])[0]?.units ?? 0;
};
const none = { duplicates: [], cancelledBefore: [], rejected: [] };

describe('applyOrderBatch', () => {
  it('writes a batch of new orders and takes their units once', async () => {
    const sku = uniqueSku('batch');
    await preloadSku(redis, { sku, stock: 10, limit: 3 });
    const events = [event(sku, 'a'), event(sku, 'b', 3), event(sku, 'c')];
    expect(await apply(events)).toEqual({ applied: events, ...none });
    expect(await stockOf(sku)).toBe(5);
    expect(await ordersOf(sku)).toEqual(events.map((e) => e.orderId).sort());
  });

  it('changes nothing for a redelivered batch, and applies only what is new in a mixed one', async () => {
    const sku = uniqueSku('redeliver');
    await preloadSku(redis, { sku, stock: 10 });
    const first = [event(sku, 'a'), event(sku, 'b')];
    await apply(first);
    expect(await apply(first)).toEqual({ ...none, applied: [], duplicates: first });
    const fresh = event(sku, 'c');
    expect(await apply([...first, fresh])).toEqual({ ...none, applied: [fresh], duplicates: first });
    expect(await stockOf(sku)).toBe(7);
  });

  it('applies an order sent twice in one batch once', async () => {
    const sku = uniqueSku('twice');
    await preloadSku(redis, { sku, stock: 10 });
    const e = event(sku, 'a');
    expect(await apply([e, e])).toEqual({ ...none, applied: [e], duplicates: [e] });
    expect(await stockOf(sku)).toBe(9);
  });

  it('refuses what the database cannot take, with the reason, recorded as a CANCELLED order where it can be', async () => {
    const sku = uniqueSku('refuse');
    await preloadSku(redis, { sku, stock: 4, limit: 2 });
    const held = event(sku, 'holder', 2);
    await apply([held]);
    const reused = { ...event(sku, 'someone-else'), orderId: held.orderId };
    const pastLimit = event(sku, 'holder');
    const twin = [event(sku, 'twin', 1), event(sku, 'twin', 2)];
    const unknown = event(uniqueSku('nowhere'), 'x');
    const fits = event(sku, 'fits');
    const tooMany = event(sku, 'late', 2); // 1 unit left after twin and fits
    const result = await apply([reused, pastLimit, ...twin, unknown, fits, tooMany]);
    expect(result.applied).toEqual([twin[0], fits]);
    expect(result.duplicates).toEqual([]);
    const byOrder = (a: [OrderEvent, string], b: [OrderEvent, string]) => (a[0].orderId + a[1] < b[0].orderId + b[1] ? -1 : 1);
    expect(result.rejected.map((r): [OrderEvent, string] => [r.event, r.reason]).sort(byOrder)).toEqual(
      (
        [
          [reused, 'ORDER_ID_REUSED'],
          [pastLimit, 'OVER_LIMIT'],
          [twin[1], 'OVER_LIMIT'],
          [unknown, 'UNKNOWN_SKU'],
          [tooMany, 'OUT_OF_STOCK'],
        ] as [OrderEvent, string][]
      ).sort(byOrder),
    );
    expect(await stockOf(sku)).toBe(0);
    expect(await ordersOf(sku)).toEqual([held.orderId, twin[0].orderId, fits.orderId].sort());
    const cancelled = (await rowsOf(sku)).filter((r) => r.status === 'CANCELLED').map((r) => [r.order_id, r.reason]);
    expect(cancelled.sort()).toEqual(
      [
        [pastLimit.orderId, 'DEAD_LETTER:OVER_LIMIT'],
        [twin[1].orderId, 'DEAD_LETTER:OVER_LIMIT'],
        [tooMany.orderId, 'DEAD_LETTER:OUT_OF_STOCK'],
      ].sort(),
    );
    expect(await unitsHeldBy(sku, 'holder')).toBe(2);
    expect(await unitsHeldBy(sku, 'twin')).toBe(1);
  });

  it('lets a user hold several orders up to the limit in units, and the database refuses a holding past it', async () => {
    const sku = uniqueSku('units');
    await preloadSku(redis, { sku, stock: 10, limit: 3 });
    const orders = [event(sku, 'ann', 1), event(sku, 'ann', 2)];
    expect((await apply([orders[0]])).applied).toEqual([orders[0]]);
    expect((await apply([orders[1]])).applied).toEqual([orders[1]]);
    expect(await unitsHeldBy(sku, 'ann')).toBe(3);
    // The rule is the database's own: a write past the limit fails whoever makes it.
    await expect((await testMysql()).query('UPDATE holdings SET units = units + 1 WHERE sku = ? AND user_id = ?', [sku, 'ann'])).rejects.toThrow(/CONSTRAINT/i);
  });

  it('keeps a refusal final: redelivered after the user got their allowance back, it is still no order', async () => {
    const sku = uniqueSku('final');
    await preloadSku(redis, { sku, stock: 5, limit: 1 });
    const first = event(sku, 'bo');
    const second = event(sku, 'bo');
    await apply([first]);
    expect((await apply([second])).rejected.map((r) => r.reason)).toEqual(['OVER_LIMIT']);
    // The first order times out (as the payment sweeper would): bo's allowance and the unit come back.
    const mysql = await testMysql();
    await mysql.query(`UPDATE orders SET status = 'CANCELLED' WHERE order_id = ?`, [first.orderId]);
    await mysql.query('UPDATE holdings SET units = 0 WHERE sku = ? AND user_id = ?', [sku, 'bo']);
    await mysql.query('UPDATE inventory SET stock = stock + 1 WHERE sku = ?', [sku]);
    // The consumer died before acknowledging the refusal: the event comes again.
    expect(await apply([second])).toEqual({ ...none, applied: [], cancelledBefore: [second] });
    expect(await ordersOf(sku)).toEqual([]);
    expect(await stockOf(sku)).toBe(5);
  });

  it('opens the payment window when the order is written, not when it was reserved', async () => {
    const sku = uniqueSku('deadline');
    await preloadSku(redis, { sku, stock: 5 });
    const now = Date.now();
    const late = { ...event(sku, 'lag'), createdAt: now - 3_600_000 }; // the pipeline lagged an hour
    await apply([late], now);
    const [rows] = await (await testMysql()).query('SELECT created_at, pay_deadline FROM orders WHERE order_id = ?', [late.orderId]);
    const row = (rows as { created_at: Date; pay_deadline: Date }[])[0];
    expect(row.created_at.getTime()).toBe(late.createdAt);
    expect(row.pay_deadline.getTime()).toBe(now + 60_000);
  });

  it('never takes more than the stock when many batches for one SKU run at once', async () => {
    const sku = uniqueSku('concurrent');
    await preloadSku(redis, { sku, stock: 50 });
    const batches = Array.from({ length: 10 }, (_, b) => Array.from({ length: 10 }, (_, i) => event(sku, `u${b}-${i}`)));
    const results = await Promise.all(batches.map((batch) => apply(batch)));
    const applied = results.flatMap((r) => r.applied);
    const rejected = results.flatMap((r) => r.rejected);
    expect(applied).toHaveLength(50);
    // Every order sent is accounted for, once: applied or refused for want of stock.
    expect(applied.length + rejected.length).toBe(100);
    expect(new Set([...applied, ...rejected.map((r) => r.event)].map((e) => e.orderId)).size).toBe(100);
    expect(rejected.every((r) => r.reason === 'OUT_OF_STOCK')).toBe(true);
    expect(await stockOf(sku)).toBe(0);
    expect(await ordersOf(sku)).toEqual(applied.map((e) => e.orderId).sort());
  });
});
