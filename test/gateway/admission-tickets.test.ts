import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/connection.js';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/bench/ports.js';
import { AdmissionTickets, SoldOutSales } from '../../src/gateway/admission.js';
import { Reservations } from '../../src/sale/reservations.js';
import { newRedis, preloadSku, uniqueSku } from '../helpers.js';

const clients: RedisClient[] = [];
afterAll(() => clients.forEach((c) => c.disconnect()));

const ticketsOn = (redis: RedisClient) => new AdmissionTickets(redis, 10, 4, 1_000, new SoldOutSales(redis, 1_000));

describe('AdmissionTickets', () => {
  it('keeps no pool for a SKU it could not ask Redis about: made-up SKU names during an outage do not grow it', async () => {
    const down = new Redis(`redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    down.on('error', () => {});
    clients.push(down);
    const tickets = ticketsOn(down);
    for (let i = 0; i < 50; i++) await expect(tickets.admit(`made-up-${i}`, Date.now())).rejects.toThrow();
    expect(tickets.pooledSkus).toBe(0);
  });

  it('keeps none for a SKU that is not on sale, and one for a SKU that is', async () => {
    const redis = newRedis();
    clients.push(redis);
    const tickets = ticketsOn(redis);
    expect(await tickets.admit(uniqueSku('nowhere'), Date.now())).toBe('NOT_LOADED');
    const { sku } = await preloadSku(redis, { sku: uniqueSku('pooled'), stock: 5 });
    expect(await tickets.admit(sku, Date.now())).toBe('ADMIT');
    expect(tickets.pooledSkus).toBe(1);
  });
});

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
