import type { RedisClient as Redis } from '../../src/redis/connection.js';
import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys, STOCK_EVENTS_CHANNEL } from '../../src/redis/keys.js';
import { newRedis, postJson, preloadSku, serverTracker, testMysql, uniqueSku, waitFor } from '../helpers.js';

/**
 * Admission as a real sale meets it: the crowd arrives before the opening, a
 * user keeps pressing "buy" past the limit, replies get lost and buyers
 * retry after the sell-out. Each through a real server process and Redis.
 */

const redis: Redis = newRedis();
const { start, stopAll } = serverTracker();

afterAll(async () => {
  await stopAll();
  redis.disconnect();
  await (await testMysql()).end();
});

type Answer = Awaited<ReturnType<typeof postJson>>;
const codeOf = (a: Answer) => (a.status === 201 ? '201' : `${a.status} ${String(a.body.error)}`);
const tally = (answers: Answer[]) => answers.reduce<Record<string, number>>((n, a) => ({ ...n, [codeOf(a)]: (n[codeOf(a)] ?? 0) + 1 }), {});

/** Commands Redis has processed so far (all clients): what a test counts to show the server did not ask Redis. */
const commandsProcessed = async () => Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1]);

describe('a scheduled sale', () => {
  it('sells every unit after the opening although 150 buyers pressed "buy" before it (the crowd before the opening spends no admission)', async () => {
    // K = 2: a cap of 20 for 10 units, which the early crowd used to exhaust for good.
    const url = (await start(['--admission-factor', '2', '--ticket-chunk', '4'])).url;
    const startsAt = Date.now() + 3_000;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('scheduled'), stock: 10, limit: 1, startsAt });

    const early = await Promise.all(Array.from({ length: 150 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `early-${i}` })));
    expect(Date.now()).toBeLessThan(startsAt); // else the test proves nothing: make the opening later
    expect(tally(early)).toEqual({ '403 NOT_STARTED': 150 });
    expect(await redis.get(skuKeys(sku).admitted)).toBeNull();

    await waitFor(() => Date.now() >= startsAt, 10_000, 'the opening');
    const answers: Answer[] = [];
    // The same crowd again, and more, until every unit is sold (a sale that sells nothing never ends this loop: the deadline does).
    await waitFor(
      async () => {
        answers.push(...(await Promise.all(Array.from({ length: 30 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `early-${answers.length + i}` })))));
        return (await redis.get(skuKeys(sku).stock)) === '0';
      },
      15_000,
      'all 10 units sold after the opening',
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(10);
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(10);
  });
});

describe('admission while units remain', () => {
  it('lets the other buyers buy every unit while one user hammers past the limit (LIMIT and DUPLICATE spend no ticket)', async () => {
    // K = 1 and chunks of 1: the cap is the stock itself, 10.
    const url = (await start(['--admission-factor', '1', '--ticket-chunk', '1'])).url;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('hammer'), stock: 10, limit: 1 });
    expect((await postJson(`${url}/reserve`, { sku, userId: 'hammer', requestId: 'h0' })).status).toBe(201);
    const hammering = [];
    for (let i = 0; i < 30; i++) {
      hammering.push(await postJson(`${url}/reserve`, { sku, userId: 'hammer', requestId: `h${i % 2 === 0 ? 0 : i}` }));
    }
    expect(tally(hammering)).toEqual({ '409 DUPLICATE': 15, '409 LIMIT': 15 });

    const others = [];
    for (let i = 0; i < 9; i++) others.push(await postJson(`${url}/reserve`, { sku, userId: `buyer-${i}` }));
    expect(tally(others)).toEqual({ '201': 9 });
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');
  });
});

describe('after the sell-out', () => {
  it('answers every retry with its order id and a user at the limit with theirs, and everyone else 410 without asking Redis', async () => {
    // The flag trusted for 10 minutes: it does not expire (and ask Redis once a second) while the test counts commands.
    const url = (await start(['--sold-out-ttl', '600000'])).url;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('retry'), stock: 20, limit: 2 });
    // Ten users buy twice each, r0–r9 and then r10–r19: their second order is their newest.
    const buy = (from: number) =>
      Promise.all(Array.from({ length: 10 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `b${i}`, requestId: `r${from + i}` })));
    const bought = [...(await buy(0)), ...(await buy(10))];
    expect(bought.every((a) => a.status === 201)).toBe(true);
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');

    // The first refusal after the sell-out reads the snapshot; the ones after it must not ask Redis.
    expect((await postJson(`${url}/reserve`, { sku, userId: 'warm-up' })).status).toBe(410);
    const before = await commandsProcessed();
    const retries = await Promise.all(bought.map((_, i) => postJson(`${url}/reserve`, { sku, userId: `b${i % 10}`, requestId: `r${i}` })));
    const atLimit = await Promise.all(Array.from({ length: 10 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `b${i}`, requestId: 'new' })));
    const strangers = await Promise.all(Array.from({ length: 100 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `stranger-${i}`, requestId: 'r0' })));
    // 2 = this test's own INFO calls.
    expect((await commandsProcessed()) - before).toBeLessThanOrEqual(2);

    retries.forEach((a, i) => {
      expect(codeOf(a)).toBe('409 DUPLICATE');
      expect(a.body.orderId).toBe(bought[i].body.orderId);
    });
    atLimit.forEach((a, i) => {
      expect(codeOf(a)).toBe('409 LIMIT');
      // Their newest order: user b{i} bought r{i} then r{i+10}.
      expect(a.body.orderId).toBe(bought[i + 10].body.orderId);
    });
    expect(tally(strangers)).toEqual({ '410 SOLD_OUT': 100 });
  });
});

describe('what costs nothing', () => {
  it('made-up SKU names spend no rate permit: after 300 requests for junk names, honest buyers are not refused 429', async () => {
    // A bucket of 5 tokens a second: junk that spent tokens would leave the honest buyers none.
    const url = (await start(['--rate', '5', '--burst', '5'])).url;
    const junk = await Promise.all(Array.from({ length: 300 }, (_, i) => postJson(`${url}/reserve`, { sku: `made-up-${i % 30}`, userId: 'one-account' })));
    expect(tally(junk)).toEqual({ '404 UNKNOWN_SKU': 300 });
    const { sku } = await preloadSku(redis, { sku: uniqueSku('honest'), stock: 5, limit: 1 });
    const honest = await Promise.all(Array.from({ length: 5 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `honest-${i}` })));
    expect(tally(honest)).toEqual({ '201': 5 });
  });

  it('a bucketed SKU that is sold out is announced once, however long buyers keep coming (not once per --sold-out-ttl per process)', async () => {
    const url = (await start(['--sold-out-ttl', '100'])).url;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('bucketed-sold-out'), stock: 6, limit: 1, buckets: 3 });
    const subscriber = newRedis();
    const announced: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => message === `SOLD_OUT ${sku}` && announced.push(message));
    await subscriber.subscribe(STOCK_EVENTS_CHANNEL);
    try {
      const answers: Answer[] = [];
      // Buyers until every unit is sold, then more for 1.5 s: 15 times the flag's life.
      await waitFor(
        async () => {
          answers.push(await postJson(`${url}/reserve`, { sku, userId: `buyer-${answers.length}` }));
          return answers.filter((a) => a.status === 201).length === 6 && answers.at(-1)!.status === 410;
        },
        15_000,
        'all 6 units sold',
      );
      const soldOutAt = Date.now();
      while (Date.now() - soldOutAt < 1_500) answers.push(await postJson(`${url}/reserve`, { sku, userId: `buyer-${answers.length}` }));
      expect(answers.filter((a) => a.status === 201)).toHaveLength(6);
      await expect.poll(() => announced.length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 200)); // a late second announcement would show here
      expect(announced).toHaveLength(1);
    } finally {
      subscriber.disconnect();
    }
  });
});
