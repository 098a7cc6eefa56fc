import type { RedisClient } from '../../src/redis/connection.js';
import { afterAll, describe, expect, it } from 'vitest';
import { SoldOutSales } from '../../src/gateway/sold-out.js';
import { Reservations } from '../../src/sale/reservations.js';
import { newRedis, preloadSku, uniqueSku } from '../helpers.js';

const clients: RedisClient[] = [];
afterAll(() => clients.forEach((c) => c.disconnect()));

describe('SoldOutSales', () => {
  it('reads the snapshot again when units came back since (released changed), even if the ON_SALE message was lost', async () => {
    const redis = newRedis();
    clients.push(redis);
    const reservations = new Reservations(redis);
    const { sku } = await preloadSku(redis, { sku: uniqueSku('snapshot'), stock: 1 });
    const first = await reservations.reserve({ sku, userId: 'ann', qty: 1, requestId: 'a' });
    const sales = new SoldOutSales(redis, 600_000);
    sales.set(sku, Date.now(), 'sold');
    expect(await sales.answer({ sku, userId: 'bob', qty: 1, requestId: 'b' })).toMatchObject({ outcome: 'SOLD_OUT' });

    // Behind this process's back (its ON_SALE lost): ann's unit comes back and bob buys it.
    await reservations.release(sku, first.orderId!, 'TEST');
    const bob = await reservations.reserve({ sku, userId: 'bob', qty: 1, requestId: 'b' });
    // Still sold out, and take-tickets says how many units came back so far.
    sales.set(sku, Date.now(), 'confirmed', 1);
    expect(await sales.answer({ sku, userId: 'bob', qty: 1, requestId: 'b' })).toEqual({ outcome: 'DUPLICATE', orderId: bob.orderId, remaining: null });
  });
});
