import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys, STOCK_EVENTS_CHANNEL } from '../../src/redis/keys.js';
import { parseHolding } from '../../src/sale/holdings.js';
import { newOrderId } from '../../src/sale/ids.js';
import { Reservations, type ReservationRecord, type ReserveItem } from '../../src/sale/reservations.js';
import type { RedisClient } from '../../src/redis/connection.js';
import { newRedis, outboxEvents, preloadSku, uniqueSku } from '../helpers.js';

const redis = newRedis();
const reservations = new Reservations(redis);
afterAll(() => redis.quit());

/** An admission lease that runs for an hour (take-tickets.lua names leases by their deadline). */
const LEASE = `${Date.now() + 3_600_000}.test.1`;

/** A buy request as one reserve.lua call takes it. */
const item = (sku: string, userId: string, opts: { qty?: number; requestId?: string; holdsTicket?: boolean; orderId?: string } = {}): ReserveItem => ({
  request: { sku, userId, qty: opts.qty ?? 1, ...(opts.requestId !== undefined && { requestId: opts.requestId }) },
  orderId: opts.orderId ?? newOrderId(sku, Date.now()),
  ticketLease: opts.holdsTicket ? LEASE : null,
  bucket: 0,
});

describe('reserve.lua deciding many requests in one call', () => {
  it('the same user twice in one call: one OK, then LIMIT naming that order; one unit sold', async () => {
    const sku = uniqueSku('b-user');
    await preloadSku(redis, { sku, stock: 10, limit: 1 });
    const [first, second] = await reservations.reserveBatch(sku, [item(sku, 'ann', { requestId: 'r1' }), item(sku, 'ann', { requestId: 'r2' })]);
    expect(first).toMatchObject({ outcome: 'OK', remaining: 9 });
    expect(second).toEqual({ outcome: 'LIMIT', orderId: first.orderId, remaining: null });
    expect(await redis.get(skuKeys(sku).stock)).toBe('9');
    expect(parseHolding(await redis.hget(skuKeys(sku).holders, 'ann'))).toEqual([{ orderId: first.orderId, qty: 1 }]);
    expect(await outboxEvents(redis, sku)).toHaveLength(1);
  });

  it('the same request id twice in one call: one OK, then DUPLICATE with the same order id; one unit sold', async () => {
    const sku = uniqueSku('b-req');
    await preloadSku(redis, { sku, stock: 10, limit: 5 });
    const [first, retry] = await reservations.reserveBatch(sku, [item(sku, 'bob', { requestId: 'same' }), item(sku, 'bob', { requestId: 'same' })]);
    expect(first.outcome).toBe('OK');
    expect(retry).toEqual({ outcome: 'DUPLICATE', orderId: first.orderId, remaining: null });
    expect(await redis.hget(skuKeys(sku).requests, 'bob/same')).toBe(first.orderId);
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(1);
  });

  it('a limit of 3 filled within one call by 1 + 2 units, a third order refused LIMIT with the newest order', async () => {
    const sku = uniqueSku('b-units');
    await preloadSku(redis, { sku, stock: 10, limit: 3 });
    const [a, b, c] = await reservations.reserveBatch(sku, [item(sku, 'cat', { qty: 1 }), item(sku, 'cat', { qty: 2 }), item(sku, 'cat', { qty: 1 })]);
    expect([a.outcome, b.outcome]).toEqual(['OK', 'OK']);
    expect(c).toEqual({ outcome: 'LIMIT', orderId: b.orderId, remaining: null });
    expect(parseHolding(await redis.hget(skuKeys(sku).holders, 'cat'))).toEqual([
      { orderId: a.orderId, qty: 1 },
      { orderId: b.orderId, qty: 2 },
    ]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('7');
  });

  it('sells out in the middle of a call: the first buyers get the units, the rest SOLD_OUT, no partial fill, one sold-out event', async () => {
    const sku = uniqueSku('b-soldout');
    await preloadSku(redis, { sku, stock: 5, limit: 3 });
    const events: string[] = [];
    const subscriber = newRedis();
    await subscriber.subscribe(STOCK_EVENTS_CHANNEL);
    // Only SOLD_OUT: the preload's ON_SALE may reach this subscriber late (a cluster carries a
    // PUBLISH to the other nodes on its bus, after the publisher was answered).
    subscriber.on('message', (_channel: string, message: string) => message === `SOLD_OUT ${sku}` && events.push(message));
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

  it('judges the window on Redis time, whatever the order ids say: before the opening, inside it, after the end', async () => {
    const now = Date.now();
    const [early, open, late] = [uniqueSku('b-early'), uniqueSku('b-open'), uniqueSku('b-late')];
    await preloadSku(redis, { sku: early, stock: 10, startsAt: now + 60_000 });
    await preloadSku(redis, { sku: open, stock: 10, startsAt: now - 60_000, endsAt: now + 60_000 });
    await preloadSku(redis, { sku: late, stock: 10, endsAt: now - 1 });
    // Order ids stamped an hour off either way: the stamp decides nothing.
    const call = (sku: string, stamp: number) => reservations.reserveBatch(sku, [item(sku, 'u', { orderId: newOrderId(sku, stamp) })]);
    expect((await call(early, now + 3_600_000))[0].outcome).toBe('NOT_STARTED');
    expect((await call(open, now - 3_600_000))[0].outcome).toBe('OK');
    expect((await call(late, now - 3_600_000))[0].outcome).toBe('ENDED');
  });

  it('takes one ticket off the lease per request that held one, in one call, and keeps only the OK', async () => {
    const sku = uniqueSku('b-tickets');
    await preloadSku(redis, { sku, stock: 1, limit: 1 });
    await redis.hset(skuKeys(sku).ticketLeases, LEASE, 10);
    const results = await reservations.reserveBatch(sku, [
      item(sku, 'a', { holdsTicket: true }),
      item(sku, 'a', { holdsTicket: true }), // LIMIT
      item(sku, 'b', { holdsTicket: true }), // SOLD_OUT
      item(sku, 'c', { holdsTicket: false }), // SOLD_OUT, spent no ticket
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['OK', 'LIMIT', 'SOLD_OUT', 'SOLD_OUT']);
    expect(await redis.hget(skuKeys(sku).ticketLeases, LEASE)).toBe('7');
    expect(await redis.get(skuKeys(sku).admitted)).toBe('1');
  });

  it('answers a call run twice (a client resending it after a reconnect) as the first run did: no unit sold twice', async () => {
    const sku = uniqueSku('b-rerun');
    await preloadSku(redis, { sku, stock: 5, limit: 2 });
    await redis.hset(skuKeys(sku).ticketLeases, LEASE, 10);
    // Without request ids, so only the order id can tell the rerun.
    const items = [item(sku, 'a', { holdsTicket: true }), item(sku, 'b', { holdsTicket: true }), item(sku, 'a', { qty: 2, holdsTicket: true })];
    const first = await reservations.reserveBatch(sku, items);
    const again = await reservations.reserveBatch(sku, items);
    expect(first.map((r) => [r.outcome, r.orderId])).toEqual([
      ['OK', items[0].orderId],
      ['OK', items[1].orderId],
      ['LIMIT', items[0].orderId],
    ]);
    expect(again.map((r) => [r.outcome, r.orderId])).toEqual(first.map((r) => [r.outcome, r.orderId]));
    expect(await redis.get(skuKeys(sku).stock)).toBe('3');
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(2);
    expect(await outboxEvents(redis, sku)).toHaveLength(2);
    expect(await redis.get(skuKeys(sku).admitted)).toBe('2');
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
    leases: await hash(k.ticketLeases),
    holders: await hash(k.holders),
    requests: await hash(k.requests),
    reservations: anonymous(
      JSON.stringify(
        Object.entries(await r.hgetall(k.reservations))
          .map(([id, record]) => [id, { ...(JSON.parse(record) as ReservationRecord), createdAt: 0 }])
          .sort(),
      ),
    ),
    // The events in order; how many entries hold them is the difference between the two ways of calling.
    // createdAt (in the records and the outbox) is Redis's time when the call ran: the two ways of calling run at different moments.
    outbox: (await outboxEvents(r, sku)).map((e) => anonymous(JSON.stringify({ ...e, createdAt: 0 }))),
  };
};

describe('a call of many requests decides exactly as the same requests one call each, in the same order', () => {
  const request = fc.record({
    user: fc.constantFrom('u1', 'u2', 'u3', 'u4'),
    qty: fc.integer({ min: 1, max: 3 }),
    requestId: fc.option(fc.constantFrom('r1', 'r2', 'r3'), { nil: undefined }),
    holdsTicket: fc.boolean(),
  });
  /** The sale window as Redis's clock sees it while the calls run (hours away from now, so a slow run cannot cross it). */
  const window = fc.constantFrom('open', 'not started', 'ended');
  const windowOf = (state: string, now = Date.now()) =>
    state === 'open'
      ? { startsAt: now - 3_600_000, endsAt: now + 3_600_000 }
      : state === 'not started'
        ? { startsAt: now + 3_600_000 }
        : { endsAt: now - 3_600_000 };

  it('for any mix of users, quantities, repeated request ids, windows and tickets (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(request, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 1, max: 4 }),
        window,
        async (requests, stock, limit, state) => {
          const grouped = uniqueSku('prop-g');
          const oneByOne = uniqueSku('prop-1');
          for (const sku of [grouped, oneByOne]) {
            await preloadSku(redis, { sku, stock, limit, ...windowOf(state) });
            await redis.hset(skuKeys(sku).ticketLeases, LEASE, 100);
          }
          const itemsOf = (sku: string) =>
            requests.map((r, i) =>
              item(sku, r.user, { qty: r.qty, holdsTicket: r.holdsTicket, orderId: `${sku}.o${i}`, ...(r.requestId && { requestId: r.requestId }) }),
            );
          const batchResults = await reservations.reserveBatch(grouped, itemsOf(grouped));
          const singleResults = [];
          for (const one of itemsOf(oneByOne)) singleResults.push(...(await reservations.reserveBatch(oneByOne, [one])));
          const anonymous = (results: typeof batchResults, sku: string) => results.map((r) => ({ ...r, orderId: r.orderId?.replace(sku, 'SKU') ?? null }));
          expect(anonymous(batchResults, grouped)).toEqual(anonymous(singleResults, oneByOne));
          expect(await stateOf(redis, grouped)).toEqual(await stateOf(redis, oneByOne));
        },
      ),
      { numRuns: 60 },
    );
  });
});
