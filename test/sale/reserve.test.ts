import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import { parseHolding } from '../../src/sale/holdings.js';
import { DEFAULT_GROUP_LIMITS, Reservations, type ReservationOptions, type ReserveResult } from '../../src/sale/reservations.js';
import { freezeSku, thawSku } from '../../src/sale/catalog.js';
import { newRedis, outboxEvents, preloadSku, uniqueSku } from '../helpers.js';

const redis = newRedis();
afterAll(() => redis.quit());

const count = (results: ReserveResult[], outcome: string) => results.filter((r) => r.outcome === outcome).length;

// Every claim about reserve.lua holds both ways a gateway calls it: the
// requests of a SKU that arrive together in one call (group commit, the
// default), and one call per request (serve --no-group-commit).
const MODES: [string, ReservationOptions][] = [
  ['grouped', { groupCommit: DEFAULT_GROUP_LIMITS }],
  ['one call per request', { groupCommit: null }],
];

describe.each(MODES)('reserve.lua, %s', (_mode, options) => {
  const reservations = new Reservations(redis, options);

  it('never sells more than the stock: 20,000 concurrent buyers over 8 connections, 1,000 units', async () => {
    const sku = uniqueSku('oversell');
    await preloadSku(redis, { sku, stock: 1_000 });
    const connections = Array.from({ length: 8 }, () => newRedis());
    const clients = connections.map((c) => new Reservations(c, options));
    const results = await Promise.all(
      Array.from({ length: 20_000 }, (_, i) => clients[i % clients.length].reserve({ sku, userId: `user-${i}`, qty: 1, requestId: `req-${i}` })),
    );
    await Promise.all(connections.map((c) => c.quit()));

    expect(count(results, 'OK')).toBe(1_000);
    expect(count(results, 'SOLD_OUT')).toBe(19_000);
    const k = skuKeys(sku);
    expect(await redis.get(k.stock)).toBe('0');
    expect(new Set((await outboxEvents(redis, sku)).map((e) => e.orderId)).size).toBe(1_000);
    expect(await redis.hlen(k.reservations)).toBe(1_000);
    const holders = await redis.hgetall(k.holders);
    expect(Object.keys(holders)).toHaveLength(1_000);
    const orderIds = results.filter((r) => r.outcome === 'OK').map((r) => r.orderId);
    expect(new Set(orderIds).size).toBe(1_000);
    expect(new Set(Object.values(holders).flatMap((h) => parseHolding(h).map((o) => o.orderId)))).toEqual(new Set(orderIds));
  });

  it('writes an outbox entry carrying everything the order consumer needs', async () => {
    const sku = uniqueSku('outbox');
    await preloadSku(redis, { sku, stock: 5, limit: 2 });
    const before = Date.now();
    const r = await reservations.reserve({ sku, userId: 'alice', qty: 2, requestId: 'r-1' });
    const [[, fields]] = (await redis.xrange(skuKeys(sku).outbox, '-', '+')) as [string, string[]][];
    expect(fields[0]).toBe('event');
    const event = JSON.parse(fields[1]) as { createdAt: number };
    expect(event).toEqual({ orderId: r.orderId, sku, userId: 'alice', qty: 2, requestId: 'r-1', createdAt: event.createdAt });
    // When it was reserved, on Redis's clock (this machine's here).
    expect(event.createdAt).toBeGreaterThanOrEqual(before - 1_000);
    expect(event.createdAt).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(JSON.parse((await redis.hget(skuKeys(sku).reservations, r.orderId!))!)).toEqual(JSON.parse(fields[1]));
    expect(await outboxEvents(redis, sku)).toHaveLength(1);
  });

  it('counts the per-user limit in units over several orders: limit 3 → 1 then 2 with new request ids, then LIMIT with the newest order id', async () => {
    const sku = uniqueSku('units');
    await preloadSku(redis, { sku, stock: 10, limit: 3 });
    const first = await reservations.reserve({ sku, userId: 'ann', qty: 1, requestId: 'r1' });
    const second = await reservations.reserve({ sku, userId: 'ann', qty: 2, requestId: 'r2' });
    expect([first.outcome, second.outcome]).toEqual(['OK', 'OK']);
    expect(await reservations.reserve({ sku, userId: 'ann', qty: 1, requestId: 'r3' })).toEqual({ outcome: 'LIMIT', orderId: second.orderId, remaining: null });
    expect(parseHolding(await redis.hget(skuKeys(sku).holders, 'ann'))).toEqual([
      { orderId: first.orderId, qty: 1 },
      { orderId: second.orderId, qty: 2 },
    ]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('7');
  });

  it('lets 50 concurrent calls of one user with limit 2 reserve exactly 2 units; the rest answer LIMIT with an order of theirs', async () => {
    const sku = uniqueSku('units-race');
    await preloadSku(redis, { sku, stock: 100, limit: 2 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => reservations.reserve({ sku, userId: 'zed', qty: 1, requestId: `r-${i}` })));
    const ok = results.filter((r) => r.outcome === 'OK').map((r) => r.orderId);
    expect(ok).toHaveLength(2);
    for (const r of results.filter((x) => x.outcome === 'LIMIT')) expect(ok).toContain(r.orderId);
    expect(count(results, 'LIMIT')).toBe(48);
    expect(await redis.get(skuKeys(sku).stock)).toBe('98');
  });

  it('lets one user hold one order: 50 concurrent calls → one OK, 49 LIMIT carrying that order id', async () => {
    const sku = uniqueSku('limit');
    await preloadSku(redis, { sku, stock: 100 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => reservations.reserve({ sku, userId: 'bob', qty: 1, requestId: `r-${i}` })));
    const ok = results.filter((r) => r.outcome === 'OK');
    expect(ok).toHaveLength(1);
    const limited = results.filter((r) => r.outcome === 'LIMIT');
    expect(limited).toHaveLength(49);
    for (const r of limited) expect(r.orderId).toBe(ok[0].orderId);
    expect(await redis.get(skuKeys(sku).stock)).toBe('99');
  });

  it('answers one request id sent 50 times with one order id, and sells once', async () => {
    const sku = uniqueSku('idem');
    await preloadSku(redis, { sku, stock: 100 });
    const results = await Promise.all(Array.from({ length: 50 }, () => reservations.reserve({ sku, userId: 'carol', qty: 1, requestId: 'same' })));
    expect(count(results, 'OK')).toBe(1);
    expect(count(results, 'DUPLICATE')).toBe(49);
    expect(new Set(results.map((r) => r.orderId)).size).toBe(1);
    expect(await redis.get(skuKeys(sku).stock)).toBe('99');
    expect(await outboxEvents(redis, sku)).toHaveLength(1);
  });

  it('keeps request ids per user: the same id from another user is a new request', async () => {
    const sku = uniqueSku('idem-user');
    await preloadSku(redis, { sku, stock: 10 });
    const a = await reservations.reserve({ sku, userId: 'u1', qty: 1, requestId: 'r' });
    const b = await reservations.reserve({ sku, userId: 'u2', qty: 1, requestId: 'r' });
    expect([a.outcome, b.outcome]).toEqual(['OK', 'OK']);
    expect(a.orderId).not.toBe(b.orderId);
  });

  it('sells several units at once, and sells nothing when fewer are left than asked for', async () => {
    const sku = uniqueSku('qty');
    await preloadSku(redis, { sku, stock: 5, limit: 3 });
    expect(await reservations.reserve({ sku, userId: 'a', qty: 3 })).toMatchObject({ outcome: 'OK', remaining: 2 });
    expect(await reservations.reserve({ sku, userId: 'b', qty: 3 })).toEqual({ outcome: 'SOLD_OUT', orderId: null, remaining: 2 });
    expect(await redis.get(skuKeys(sku).stock)).toBe('2');
    expect(await redis.hexists(skuKeys(sku).holders, 'b')).toBe(0);
    expect(await reservations.reserve({ sku, userId: 'c', qty: 2 })).toMatchObject({ outcome: 'OK', remaining: 0 });
    expect(await reservations.reserve({ sku, userId: 'd', qty: 1 })).toEqual({ outcome: 'SOLD_OUT', orderId: null, remaining: 0 });
    expect(await outboxEvents(redis, sku)).toHaveLength(2);
  });

  it('refuses a quantity over the per-user limit without selling', async () => {
    const sku = uniqueSku('over-limit');
    await preloadSku(redis, { sku, stock: 10, limit: 2 });
    expect(await reservations.reserve({ sku, userId: 'a', qty: 3 })).toEqual({ outcome: 'LIMIT', orderId: null, remaining: null });
    expect(await redis.get(skuKeys(sku).stock)).toBe('10');
  });

  it('answers NOT_LOADED for a SKU never preloaded, writing nothing', async () => {
    const sku = uniqueSku('unknown');
    expect((await reservations.reserve({ sku, userId: 'a', qty: 1, requestId: 'r' })).outcome).toBe('NOT_LOADED');
    expect(await redis.exists(...Object.values(skuKeys(sku)))).toBe(0);
  });

  it('honours the sale window on Redis time: NOT_STARTED before it, ENDED after it, OK inside, whatever the caller clock says', async () => {
    const now = Date.now();
    const window = async (startsAt: number | null, endsAt: number | null) =>
      (await preloadSku(redis, { sku: uniqueSku('window'), stock: 10, startsAt, endsAt })).sku;
    const [early, open, late] = [await window(now + 3_600_000, null), await window(now - 3_600_000, now + 3_600_000), await window(null, now - 1)];
    // The caller's clock (it only names the order) two hours off, the wrong way each time.
    expect((await reservations.reserve({ sku: early, userId: 'a', qty: 1 }, now + 7_200_000)).outcome).toBe('NOT_STARTED');
    expect((await reservations.reserve({ sku: late, userId: 'a', qty: 1 }, now - 7_200_000)).outcome).toBe('ENDED');
    expect((await reservations.reserve({ sku: open, userId: 'a', qty: 1 }, now + 7_200_000)).outcome).toBe('OK');
    expect(await redis.get(skuKeys(open).stock)).toBe('9');
  });
});

describe('release.lua', () => {
  const reservations = new Reservations(redis);

  it('returns the stock once; a second call is a no-op and says so; the holding is cleared', async () => {
    const sku = uniqueSku('release');
    await preloadSku(redis, { sku, stock: 3, limit: 2 });
    const r = await reservations.reserve({ sku, userId: 'dave', qty: 2, requestId: 'r' });
    expect(r.remaining).toBe(1);

    const results = await Promise.all(Array.from({ length: 20 }, () => reservations.release(sku, r.orderId!, 'TEST')));
    expect(results.filter((x) => x.outcome === 'RELEASED')).toEqual([{ outcome: 'RELEASED', remaining: 3 }]);
    expect(results.filter((x) => x.outcome === 'ALREADY_RELEASED')).toHaveLength(19);
    expect(await redis.get(skuKeys(sku).stock)).toBe('3');
    expect(await redis.hexists(skuKeys(sku).holders, 'dave')).toBe(0);
    expect(await reservations.get(sku, r.orderId!)).toMatchObject({ reason: 'TEST', userId: 'dave', qty: 2 });

    // The user may buy again, and the old request id still names the old order.
    expect((await reservations.reserve({ sku, userId: 'dave', qty: 1, requestId: 'r2' })).outcome).toBe('OK');
    expect(await reservations.reserve({ sku, userId: 'dave', qty: 1, requestId: 'r' })).toMatchObject({ outcome: 'DUPLICATE', orderId: r.orderId });
  });

  it('answers NOT_FOUND for an order id it never reserved, changing nothing', async () => {
    const sku = uniqueSku('release-unknown');
    await preloadSku(redis, { sku, stock: 3 });
    expect(await reservations.release(sku, `${sku}.nope`, 'TEST')).toEqual({ outcome: 'NOT_FOUND', remaining: null });
    expect(await redis.get(skuKeys(sku).stock)).toBe('3');
  });

  it('takes only the released order out of a holding: the user keeps their other order and its units', async () => {
    const sku = uniqueSku('release-newer');
    await preloadSku(redis, { sku, stock: 5, limit: 2 });
    const first = await reservations.reserve({ sku, userId: 'erin', qty: 1 });
    const second = await reservations.reserve({ sku, userId: 'erin', qty: 1 });
    expect(await reservations.release(sku, first.orderId!, 'TEST')).toMatchObject({ outcome: 'RELEASED' });
    expect(parseHolding(await redis.hget(skuKeys(sku).holders, 'erin'))).toEqual([{ orderId: second.orderId, qty: 1 }]);
    // The released unit is back in the allowance: one more fits, two do not.
    expect((await reservations.reserve({ sku, userId: 'erin', qty: 2 })).outcome).toBe('LIMIT');
    expect((await reservations.reserve({ sku, userId: 'erin', qty: 1 })).outcome).toBe('OK');
  });

  it('refuses to release while reconcile has the SKU frozen, changing nothing; releases once thawed', async () => {
    const sku = uniqueSku('release-frozen');
    await preloadSku(redis, { sku, stock: 3 });
    const r = await reservations.reserve({ sku, userId: 'fay', qty: 1 });
    await freezeSku(redis, sku);
    expect(await reservations.release(sku, r.orderId!, 'TEST')).toEqual({ outcome: 'FROZEN', remaining: null });
    expect(await redis.get(skuKeys(sku).stock)).toBe('2');
    expect((await reservations.get(sku, r.orderId!))!.releasedAt).toBeUndefined();
    await thawSku(redis, sku);
    expect(await reservations.release(sku, r.orderId!, 'TEST')).toEqual({ outcome: 'RELEASED', remaining: 3 });
  });
});

describe('mark-persisted.lua', () => {
  const reservations = new Reservations(redis);

  it('marks each reservation once (an id given twice counts once), leaves a released one unmarked, and keeps the record whole', async () => {
    const sku = uniqueSku('mark');
    await preloadSku(redis, { sku, stock: 3_000 });
    const made = await Promise.all(Array.from({ length: 2_500 }, (_, i) => reservations.reserve({ sku, userId: `m${i}`, qty: 1, requestId: `r${i}` })));
    const ids = made.map((r) => r.orderId!);
    await reservations.release(sku, ids[0], 'TEST');
    // More ids than one HMGET of the script takes, one of them twice, one unknown.
    expect(await reservations.markPersisted(sku, [...ids, ids[1], `${sku}.unknown`], 1_700_000_000_000)).toBe(2_499);
    expect(await reservations.markPersisted(sku, ids, 1_800_000_000_000)).toBe(0);
    const second = await reservations.get(sku, ids[1]);
    expect(second).toMatchObject({ orderId: ids[1], sku, userId: 'm1', qty: 1, requestId: 'r1', persistedAt: 1_700_000_000_000 });
    const released = await reservations.get(sku, ids[0]);
    expect(released!.persistedAt).toBeUndefined();
    expect(released!.releasedAt).toBeGreaterThan(0);
  });
});

describe.each(MODES)('admission tickets in reserve.lua, %s', (_mode, options) => {
  const reservations = new Reservations(redis, options);
  const bought = async (sku: string) => Number(await redis.get(skuKeys(sku).admitted));
  const held = async (sku: string) => Number(await redis.hget(skuKeys(sku).ticketLeases, LEASE));
  /** An admission lease that runs for an hour (take-tickets.lua names leases by their deadline). */
  const LEASE = `${Date.now() + 3_600_000}.test.1`;

  it('takes every ticket spent off its lease and keeps only those that bought, so requests that cannot buy never use up the cap', async () => {
    const sku = uniqueSku('refund');
    await preloadSku(redis, { sku, stock: 2, limit: 1 });
    await redis.hset(skuKeys(sku).ticketLeases, LEASE, 100);
    const ask = (userId: string, qty = 1, requestId?: string) => reservations.reserve({ sku, userId, qty, ...(requestId && { requestId }) }, Date.now(), LEASE);
    expect((await ask('a', 1, 'r1')).outcome).toBe('OK');
    expect((await ask('a', 1, 'r1')).outcome).toBe('DUPLICATE');
    expect((await ask('a', 1, 'r2')).outcome).toBe('LIMIT');
    expect((await ask('big', 2)).outcome).toBe('LIMIT');
    expect((await ask('b')).outcome).toBe('OK');
    expect((await ask('c')).outcome).toBe('SOLD_OUT');
    // 6 tickets spent: 2 bought, 4 came back to the fleet.
    expect(await held(sku)).toBe(94);
    expect(await bought(sku)).toBe(2);
    // A call that spent no ticket takes none.
    expect((await reservations.reserve({ sku, userId: 'a', qty: 1, requestId: 'r1' })).outcome).toBe('DUPLICATE');
    expect(await held(sku)).toBe(94);
  });

  it('gives the ticket back before the opening, and a lease whose tickets are all decided is gone', async () => {
    const sku = uniqueSku('refund-early');
    await preloadSku(redis, { sku, stock: 2, limit: 1, startsAt: Date.now() + 60_000 });
    await redis.hset(skuKeys(sku).ticketLeases, LEASE, 1);
    expect((await reservations.reserve({ sku, userId: 'early', qty: 1 }, Date.now(), LEASE)).outcome).toBe('NOT_STARTED');
    expect(await redis.hexists(skuKeys(sku).ticketLeases, LEASE)).toBe(0);
    expect(await redis.exists(skuKeys(sku).admitted)).toBe(0);
  });

  it('never creates the counters of a SKU that is not loaded', async () => {
    const sku = uniqueSku('refund-unknown');
    expect((await reservations.reserve({ sku, userId: 'a', qty: 1 }, Date.now(), LEASE)).outcome).toBe('NOT_LOADED');
    expect(await redis.exists(skuKeys(sku).admitted, skuKeys(sku).ticketLeases)).toBe(0);
  });
});
