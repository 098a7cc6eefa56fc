import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/connection.js';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/bench/ports.js';
import { AdmissionCap } from '../../src/gateway/admission-cap.js';
import { SoldOutSales } from '../../src/gateway/sold-out.js';
import { newRedis, preloadSku, uniqueSku } from '../helpers.js';

const clients: RedisClient[] = [];
afterAll(() => clients.forEach((c) => c.disconnect()));

const ticketsOn = (redis: RedisClient) => new AdmissionCap(redis, 10, 4, 1_000, new SoldOutSales(redis, 1_000));

describe('AdmissionCap', () => {
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
