import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/connection.js';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/bench/servers/ports.js';
import { AdmissionCap, type AdmissionCapOptions, type TicketAnswer } from '../../src/gateway/admission-cap.js';
import { SoldOutSales } from '../../src/gateway/sold-out.js';
import { skuKeys } from '../../src/redis/keys.js';
import { AdmissionCounter } from '../../src/sale/tickets.js';
import { Reservations } from '../../src/sale/reservations.js';
import { newRedis, preloadSku, uniqueSku, waitFor } from '../helpers.js';

/**
 * The admission cap as a fleet shares it: AdmissionCap instances on
 * connections of their own stand for server processes, on the real Redis.
 */

const clients: RedisClient[] = [];
afterAll(() => clients.forEach((c) => c.disconnect()));

const connection = (): RedisClient => {
  const redis = newRedis();
  clients.push(redis);
  return redis;
};
const redis = connection();

const DEFAULTS: AdmissionCapOptions = { factor: 10, chunk: 4, leaseMs: 5_000, refusalTtlMs: 1_000 };
const processOn = (client: RedisClient, options: Partial<AdmissionCapOptions> = {}) =>
  new AdmissionCap(client, { ...DEFAULTS, ...options }, new SoldOutSales(client, 1_000));
const admit = async (cap: AdmissionCap, sku: string): Promise<TicketAnswer> => cap.admit(sku);

/** Tickets out across the fleet: those that bought, and what every live lease still holds. */
const ticketsOut = async (sku: string): Promise<number> => {
  const leases = Object.values(await redis.hgetall(skuKeys(sku).ticketLeases)).map(Number);
  return Number((await redis.get(skuKeys(sku).admitted)) ?? 0) + leases.reduce((n, m) => n + m, 0);
};

describe('AdmissionCap', () => {
  it('keeps no pool for a SKU it could not ask Redis about: made-up SKU names during an outage do not grow it', async () => {
    const down = new Redis(`redis://127.0.0.1:${await freePort()}`, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => {});
    clients.push(down);
    const tickets = processOn(down);
    for (let i = 0; i < 50; i++) await expect(admit(tickets, `made-up-${i}`)).rejects.toThrow();
    expect(tickets.pooledSkus).toBe(0);
  });

  it('keeps none for a SKU that is not on sale, and one for a SKU that is', async () => {
    const tickets = processOn(connection());
    expect((await admit(tickets, uniqueSku('nowhere'))).outcome).toBe('NOT_LOADED');
    const { sku } = await preloadSku(redis, { sku: uniqueSku('pooled'), stock: 5 });
    expect((await admit(tickets, sku)).outcome).toBe('ADMITTED');
    expect(tickets.pooledSkus).toBe(1);
  });
});

describe('the admission cap across a fleet that stops, dies and crowds the last tickets', () => {
  it('never has more than K × units out over live leases; a second process gets a share of what is left, not a 429, while the first holds tickets', async () => {
    // K = 1, 10 units: a cap of 10, chunks of up to 64.
    const { sku } = await preloadSku(redis, { sku: uniqueSku('share'), stock: 10 });
    const fleet = [0, 1, 2].map(() => processOn(connection(), { factor: 1, chunk: 64 }));
    const firsts = [];
    for (const p of fleet) firsts.push((await admit(p, sku)).outcome);
    expect(firsts).toEqual(['ADMITTED', 'ADMITTED', 'ADMITTED']);
    expect(await ticketsOut(sku)).toBeLessThanOrEqual(10);
    // Each keeps taking until the cap is reached: 10 tickets between them, never one more.
    const granted = [0, 0, 0];
    for (let round = 0; round < 20; round++) {
      for (const [i, p] of fleet.entries()) if ((await admit(p, sku)).outcome === 'ADMITTED') granted[i] += 1;
      expect(await ticketsOut(sku)).toBeLessThanOrEqual(10);
    }
    expect(granted.reduce((n, m) => n + m, 3)).toBe(10);
  });

  it('gives back the unspent tickets on giveBackAll (SIGTERM), so the next process has them at once', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('give-back'), stock: 10 });
    const leaving = processOn(connection(), { factor: 1, chunk: 64 });
    expect((await admit(leaving, sku)).outcome).toBe('ADMITTED');
    expect(await ticketsOut(sku)).toBe(5); // half of the cap: nobody else held a lease
    expect(await leaving.giveBackAll()).toBe(4); // one was spent on a request not yet decided
    expect(await ticketsOut(sku)).toBe(1);
    const next = processOn(connection(), { factor: 1, chunk: 64 });
    expect((await admit(next, sku)).outcome).toBe('ADMITTED');
  });

  it('lets the tickets of a process that died come back once its lease ends, on Redis time', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('dead'), stock: 2 });
    const dead = processOn(connection(), { factor: 1, chunk: 64, leaseMs: 500 });
    // The whole cap, in two takes: nothing left for anyone else.
    expect((await admit(dead, sku)).outcome).toBe('ADMITTED');
    expect((await admit(dead, sku)).outcome).toBe('ADMITTED');
    const alive = processOn(connection(), { factor: 1, chunk: 64, refusalTtlMs: 50 });
    expect((await admit(alive, sku)).outcome).toBe('ADMISSION_CLOSED');
    // `dead` never decides its two tickets (it died): they come back after its lease.
    await waitFor(async () => (await admit(alive, sku)).outcome === 'ADMITTED', 5_000, 'the dead process tickets back');
    // And the buyer so admitted buys.
    expect((await new Reservations(redis).reserve({ sku, userId: 'after', qty: 1 })).outcome).toBe('OK');
  });

  it('stops handing out the tickets of a lease that has ended, though some are unspent: Redis no longer counts them', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('expired'), stock: 100 });
    const slow = processOn(connection(), { factor: 1, chunk: 4, leaseMs: 300 });
    const first = await admit(slow, sku);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const second = await admit(slow, sku);
    expect(second.outcome).toBe('ADMITTED');
    expect(second).not.toBe(first); // a new lease, not the ended one's tickets
  });

  it('answers a take run twice (a client resending it after a reconnect) with the same lease, not a second one', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('take-twice'), stock: 10 });
    const counter = new AdmissionCounter(redis);
    const first = await counter.take(sku, 0, 4, 1, 'holder.1', 5_000);
    const again = await counter.take(sku, 0, 4, 1, 'holder.1', 5_000);
    expect(again).toEqual(first);
    expect(await redis.hlen(skuKeys(sku).ticketLeases)).toBe(1);
  });

  it('judges the opening on Redis time and says how long until it', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('opening'), stock: 10, startsAt: Date.now() + 60_000 });
    const answer = await new AdmissionCounter(redis).take(sku, 0, 4, 1, 'holder.1', 5_000);
    expect(answer.outcome).toBe('NOT_STARTED');
    expect(answer.detail).toBeGreaterThan(55_000);
    expect(answer.detail).toBeLessThanOrEqual(60_000);
  });
});
