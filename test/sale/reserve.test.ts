import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import { parseHolding } from '../../src/sale/holdings.js';
import { DEFAULT_GROUP_LIMITS, Reservations, type ReservationOptions, type ReserveResult } from '../../src/sale/reservations.js';
import { freezeSku, thawSku } from '../../src/sale/catalog.js';
import { newRedis, preloadSku, uniqueSku } from '../helpers.js';

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
      Array.from({ length: 20_000 }, (_, i) => clients[i % clients.length]!.reserve({ sku, userId: `user-${i}`, qty: 1, requestId: `req-${i}` })),
    );
    await Promise.all(connections.map((c) => c.quit()));

    expect(count(results, 'OK')).toBe(1_000);
    expect(count(results, 'SOLD_OUT')).toBe(19_000);
    const k = skuKeys(sku);
    expect(await redis.get(k.stock)).toBe('0');
    expect(await redis.xlen(k.outbox)).toBe(1_000);
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
    const r = await reservations.reserve({ sku, userId: 'alice', qty: 2, requestId: 'r-1' }, 1_700_000_000_000);
    const [[, fields]] = (await redis.xrange(skuKeys(sku).outbox, '-', '+')) as [string, string[]][];
    expect(fields![0]).toBe('event');
    expect(JSON.parse(fields![1]!)).toEqual({ orderId: r.orderId, sku, userId: 'alice', qty: 2, requestId: 'r-1', createdAt: 1_700_000_000_000 });
    expect(JSON.parse((await redis.hget(skuKeys(sku).reservations, r.orderId!))!)).toEqual(JSON.parse(fields![1]!));
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
    for (const r of limited) expect(r.orderId).toBe(ok[0]!.orderId);
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
    expect(await redis.xlen(skuKeys(sku).outbox)).toBe(1);
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
    expect(await redis.xlen(skuKeys(sku).outbox)).toBe(2);
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

  it('honours the sale window: NOT_STARTED before it, ENDED after it, OK inside', async () => {
    const sku = uniqueSku('window');
    const startsAt = Date.parse('2030-01-01T00:00:00Z');
    const endsAt = startsAt + 3_600_000;
    await preloadSku(redis, { sku, stock: 10, startsAt, endsAt });
    expect((await reservations.reserve({ sku, userId: 'a', qty: 1 }, startsAt - 1)).outcome).toBe('NOT_STARTED');
    expect((await reservations.reserve({ sku, userId: 'a', qty: 1 }, endsAt)).outcome).toBe('ENDED');
    expect((await reservations.reserve({ sku, userId: 'a', qty: 1 }, startsAt)).outcome).toBe('OK');
    expect(await redis.get(skuKeys(sku).stock)).toBe('9');
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
    await reservations.release(sku, ids[0]!, 'TEST');
    // More ids than one HMGET of the script takes, one of them twice, one unknown.
    expect(await reservations.markPersisted(sku, [...ids, ids[1]!, `${sku}.unknown`], 1_700_000_000_000)).toBe(2_499);
    expect(await reservations.markPersisted(sku, ids, 1_800_000_000_000)).toBe(0);
    const second = await reservations.get(sku, ids[1]!);
    expect(second).toMatchObject({ orderId: ids[1], sku, userId: 'm1', qty: 1, requestId: 'r1', persistedAt: 1_700_000_000_000 });
    const released = await reservations.get(sku, ids[0]!);
    expect(released!.persistedAt).toBeUndefined();
    expect(released!.releasedAt).toBeGreaterThan(0);
  });
});

describe.each(MODES)('admission tickets in reserve.lua, %s', (_mode, options) => {
  const reservations = new Reservations(redis, options);
  const admitted = async (sku: string) => Number(await redis.get(skuKeys(sku).admitted));

  it('gives the ticket back for every answer but OK, so requests that cannot buy never use up the cap', async () => {
    const sku = uniqueSku('refund');
    const startsAt = Date.now() + 60_000;
    await preloadSku(redis, { sku, stock: 2, limit: 1, startsAt });
    await redis.set(skuKeys(sku).admitted, 100);
    const ask = (userId: string, qty = 1, requestId?: string, now = startsAt) => reservations.reserve({ sku, userId, qty, ...(requestId && { requestId }) }, now, true);
    expect((await ask('early', 1, undefined, startsAt - 1)).outcome).toBe('NOT_STARTED');
    expect((await ask('a', 1, 'r1')).outcome).toBe('OK');
    expect((await ask('a', 1, 'r1')).outcome).toBe('DUPLICATE');
    expect((await ask('a', 1, 'r2')).outcome).toBe('LIMIT');
    expect((await ask('big', 2)).outcome).toBe('LIMIT');
    expect((await ask('b')).outcome).toBe('OK');
    expect((await ask('c')).outcome).toBe('SOLD_OUT');
    expect((await ask('late', 1, undefined, Date.now() + 10 * 86_400_000)).outcome).toBe('SOLD_OUT');
    // 8 tickets spent, 2 reserved: 6 came back.
    expect(await admitted(sku)).toBe(94);
    // A call that spent no ticket gives none back.
    expect((await reservations.reserve({ sku, userId: 'a', qty: 1, requestId: 'r1' }, startsAt)).outcome).toBe('DUPLICATE');
    expect(await admitted(sku)).toBe(94);
  });

  it('never creates the counter of a SKU that is not loaded', async () => {
    const sku = uniqueSku('refund-unknown');
    expect((await reservations.reserve({ sku, userId: 'a', qty: 1 }, Date.now(), true)).outcome).toBe('NOT_LOADED');
    expect(await redis.exists(skuKeys(sku).admitted)).toBe(0);
  });
});
