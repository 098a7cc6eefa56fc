import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys, STOCK_EVENTS_CHANNEL } from '../../src/redis/keys.js';
import { parseHolding } from '../../src/sale/holdings.js';
import { newOrderId } from '../../src/sale/ids.js';
import { Reservations, type ReserveItem } from '../../src/sale/reservations.js';
import type { RedisClient } from '../../src/redis/connection.js';
import { newRedis, outboxEvents, preloadSku, uniqueSku } from '../helpers.js';

const redis = newRedis();
const reservations = new Reservations(redis);
afterAll(() => redis.quit());

const NOW = Date.parse('2031-06-01T12:00:00Z');

/** A buy request as one reserve.lua call takes it. */
const item = (sku: string, userId: string, opts: { qty?: number; requestId?: string; now?: number; holdsTicket?: boolean; orderId?: string } = {}): ReserveItem => {
  const now = opts.now ?? NOW;
  return {
    request: { sku, userId, qty: opts.qty ?? 1, ...(opts.requestId !== undefined && { requestId: opts.requestId }) },
    now,
    orderId: opts.orderId ?? newOrderId(sku, now),
    holdsTicket: opts.holdsTicket ?? false,
    bucket: 0,
  };
};

describe('reserve.lua deciding many requests in one call', () => {
  it('the same user twice in one call: one OK, then LIMIT naming that order; one unit sold', async () => {
    const sku = uniqueSku('b-user');
    await preloadSku(redis, { sku, stock: 10, limit: 1 });
    const [first, second] = await reservations.reserveBatch(sku, [item(sku, 'ann', { requestId: 'r1' }), item(sku, 'ann', { requestId: 'r2' })]);
    expect(first).toMatchObject({ outcome: 'OK', remaining: 9 });
    expect(second).toEqual({ outcome: 'LIMIT', orderId: first!.orderId, remaining: null });
    expect(await redis.get(skuKeys(sku).stock)).toBe('9');
    expect(parseHolding(await redis.hget(skuKeys(sku).holders, 'ann'))).toEqual([{ orderId: first!.orderId, qty: 1 }]);
    expect(await outboxEvents(redis, sku)).toHaveLength(1);
  });

  it('the same request id twice in one call: one OK, then DUPLICATE with the same order id; one unit sold', async () => {
    const sku = uniqueSku('b-req');
    await preloadSku(redis, { sku, stock: 10, limit: 5 });
    const [first, retry] = await reservations.reserveBatch(sku, [item(sku, 'bob', { requestId: 'same' }), item(sku, 'bob', { requestId: 'same' })]);
    expect(first!.outcome).toBe('OK');
    expect(retry).toEqual({ outcome: 'DUPLICATE', orderId: first!.orderId, remaining: null });
    expect(await redis.hget(skuKeys(sku).requests, 'bob/same')).toBe(first!.orderId);
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(1);
  });

  it('a limit of 3 filled within one call by 1 + 2 units, a third order refused LIMIT with the newest order', async () => {
    const sku = uniqueSku('b-units');
    await preloadSku(redis, { sku, stock: 10, limit: 3 });
    const [a, b, c] = await reservations.reserveBatch(sku, [item(sku, 'cat', { qty: 1 }), item(sku, 'cat', { qty: 2 }), item(sku, 'cat', { qty: 1 })]);
    expect([a!.outcome, b!.outcome]).toEqual(['OK', 'OK']);
    expect(c).toEqual({ outcome: 'LIMIT', orderId: b!.orderId, remaining: null });
    expect(parseHolding(await redis.hget(skuKeys(sku).holders, 'cat'))).toEqual([
      { orderId: a!.orderId, qty: 1 },
      { orderId: b!.orderId, qty: 2 },
    ]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('7');
  });

  it('sells out in the middle of a call: the first buyers get the units, the rest SOLD_OUT, no partial fill, one sold-out event', async () => {
    const sku = uniqueSku('b-soldout');
    await preloadSku(redis, { sku, stock: 5, limit: 3 });
    const events: string[] = [];
    const subscriber = newRedis();
    await subscriber.subscribe(STOCK_EVENTS_CHANNEL);
    subscriber.on('message', (_channel: string, message: string) => message.endsWith(` ${sku}`) && events.push(message));
    const results = await reservations.reserveBatch(sku, [
      item(sku, 'u1', { qty: 3 }),
      item(sku, 'u2', { qty: 3 }), // 2 left: nothing sold to u2
      item(sku, 'u3', { qty: 1 }),
      item(sku, 'u4', { qty: 1 }),
      item(sku, 'u5', { qty: 1 }),
    ]);
    expect(results.map((r) => [r.outcome, r.remaining])).toEqual([
      ['OK', 2],
      ['SOLD_OUT', 2],
      ['OK', 1],
      ['OK', 0],
      ['SOLD_OUT', 0],
    ]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');
    expect(await redis.hexists(skuKeys(sku).holders, 'u2')).toBe(0);
    expect((await outboxEvents(redis, sku)).map((e) => e.userId)).toEqual(['u1', 'u3', 'u4']);
    expect(await redis.xlen(skuKeys(sku).outbox)).toBe(1); // one entry for the call
    await expect.poll(() => events).toEqual([`SOLD_OUT ${sku}`]);
    await subscriber.quit();
  });

  it('judges each request by its own arrival time against the sale window', async () => {
    const sku = uniqueSku('b-window');
    const startsAt = NOW;
    const endsAt = NOW + 60_000;
    await preloadSku(redis, { sku, stock: 10, startsAt, endsAt });
    const results = await reservations.reserveBatch(sku, [item(sku, 'early', { now: startsAt - 1 }), item(sku, 'on-time', { now: startsAt }), item(sku, 'late', { now: endsAt })]);
    expect(results.map((r) => r.outcome)).toEqual(['NOT_STARTED', 'OK', 'ENDED']);
    expect(await redis.get(skuKeys(sku).stock)).toBe('9');
  });

  it('gives back one admission ticket per refused request that held one, in one call', async () => {
    const sku = uniqueSku('b-tickets');
    await preloadSku(redis, { sku, stock: 1, limit: 1 });
    await redis.set(skuKeys(sku).admitted, 10);
    const results = await reservations.reserveBatch(sku, [
      item(sku, 'a', { holdsTicket: true }),
      item(sku, 'a', { holdsTicket: true }), // LIMIT
      item(sku, 'b', { holdsTicket: true }), // SOLD_OUT
      item(sku, 'c', { holdsTicket: false }), // SOLD_OUT, spent no ticket
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['OK', 'LIMIT', 'SOLD_OUT', 'SOLD_OUT']);
    expect(await redis.get(skuKeys(sku).admitted)).toBe('8');
  });

  it('answers NOT_LOADED to every request of a call for a SKU never preloaded, writing nothing', async () => {
    const sku = uniqueSku('b-unknown');
    const results = await reservations.reserveBatch(sku, [item(sku, 'a', { requestId: 'r', holdsTicket: true }), item(sku, 'b')]);
    expect(results.map((r) => r.outcome)).toEqual(['NOT_LOADED', 'NOT_LOADED']);
    expect(await redis.exists(...Object.values(skuKeys(sku)))).toBe(0);
  });

  it('decides a call of 1,000 requests (the most one call may carry) for 400 units: exactly 400 sold, in arrival order', async () => {
    const sku = uniqueSku('b-big');
    await preloadSku(redis, { sku, stock: 400 });
    const items = Array.from({ length: 1_000 }, (_, i) => item(sku, `user-${i}`, { requestId: `r-${i}` }));
    const results = await reservations.reserveBatch(sku, items);
    expect(results.slice(0, 400).every((r) => r.outcome === 'OK')).toBe(true);
    expect(results.slice(400).every((r) => r.outcome === 'SOLD_OUT')).toBe(true);
    expect(await redis.hlen(skuKeys(sku).holders)).toBe(400);
    expect((await outboxEvents(redis, sku)).map((e) => e.userId)).toEqual(items.slice(0, 400).map((i) => i.request.userId));
  });
});

/** Everything reserve.lua keeps for a SKU, with the SKU's name taken out, so two SKUs' states compare. */
const stateOf = async (r: RedisClient, sku: string) => {
  const k = skuKeys(sku);
  const anonymous = (text: string) => text.split(sku).join('SKU');
  // A hash's fields compare as a map: the order Redis lists them in is not part of the state.
  const hash = async (key: string) => anonymous(JSON.stringify(Object.entries(await r.hgetall(key)).sort()));
  return {
    stock: await r.get(k.stock),
    admitted: await r.get(k.admitted),
    holders: await hash(k.holders),
    requests: await hash(k.requests),
    reservations: await hash(k.reservations),
    // The events in order; how many entries hold them is the difference between the two ways of calling.
    outbox: (await outboxEvents(r, sku)).map((e) => anonymous(JSON.stringify(e))),
  };
};

describe('a call of many requests decides exactly as the same requests one call each, in the same order', () => {
  const request = fc.record({
    user: fc.constantFrom('u1', 'u2', 'u3', 'u4'),
    qty: fc.integer({ min: 1, max: 3 }),
    requestId: fc.option(fc.constantFrom('r1', 'r2', 'r3'), { nil: undefined }),
    // Around a sale window of [0, 1000) ms after NOW.
    at: fc.constantFrom(-1, 0, 500, 999, 1_000),
    holdsTicket: fc.boolean(),
  });

  it('for any mix of users, quantities, repeated request ids, times and tickets (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 4 }), async (requests, stock, limit) => {
        const grouped = uniqueSku('prop-g');
        const oneByOne = uniqueSku('prop-1');
        for (const sku of [grouped, oneByOne]) {
          await preloadSku(redis, { sku, stock, limit, startsAt: NOW, endsAt: NOW + 1_000 });
          await redis.set(skuKeys(sku).admitted, 100);
        }
        const itemsOf = (sku: string) =>
          requests.map((r, i) => item(sku, r.user, { qty: r.qty, now: NOW + r.at, holdsTicket: r.holdsTicket, orderId: `${sku}.o${i}`, ...(r.requestId && { requestId: r.requestId }) }));
        const batchResults = await reservations.reserveBatch(grouped, itemsOf(grouped));
        const singleResults = [];
        for (const one of itemsOf(oneByOne)) singleResults.push(...(await reservations.reserveBatch(oneByOne, [one])));
        const anonymous = (results: typeof batchResults, sku: string) => results.map((r) => ({ ...r, orderId: r.orderId?.replace(sku, 'SKU') ?? null }));
        expect(anonymous(batchResults, grouped)).toEqual(anonymous(singleResults, oneByOne));
        expect(await stateOf(redis, grouped)).toEqual(await stateOf(redis, oneByOne));
      }),
      { numRuns: 60 },
    );
  });
});
