import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import { bucketIndexes, bucketOfUser } from '../../src/sale/buckets.js';
import { unitsInTransfer } from '../../src/sale/transfers.js';
import { newRedis, postJson, preloadSku, serverTracker, uniqueSku } from '../helpers.js';

const redis = newRedis();
const servers = serverTracker();
afterEach(() => servers.stopAll());
afterAll(() => redis.quit());

const STOCK = 10_000;
const BUYERS = 50_000;
/** requests in flight at once: the crowd, as far as one test process on 2 cores can keep it in the air */
const IN_FLIGHT = 400;

interface Answer {
  userId: string;
  status: number;
  error: string | null;
  /** when the request was sent and its answer came, this process's clock */
  sentAt: number;
  answeredAt: number;
}

/**
 * Buyers whose ids are skewed the way a real crowd's are not, but the worst
 * way for buckets: four in five map to bucket 0, which runs dry long before
 * the others, so its buyers can only be served by units moved in.
 */
const skewedBuyers = (buckets: number): string[] => {
  const hot: string[] = [];
  const cold: string[] = [];
  for (let i = 0; hot.length + cold.length < BUYERS; i++) {
    const userId = `hot-${i}`;
    if (bucketOfUser(userId, buckets) === 0) {
      if (hot.length < (BUYERS * 4) / 5) hot.push(userId);
    } else if (cold.length < BUYERS / 5) cold.push(userId);
  }
  // Spread through the crowd, one in five: the cold buckets still sell when bucket 0 runs dry.
  return Array.from({ length: BUYERS }, (_, i) => (i % 5 === 4 ? cold[(i - 4) / 5] : hot[i - Math.floor(i / 5)]));
};

/**
 * Every buyer once, IN_FLIGHT at a time; besides, every 10th buyer's reply is
 * "lost" and the same request id sent again at once, and every 25th hammers
 * with a second request id: neither may ever buy a user a second unit.
 */
/** One press of buy, timed. */
const buy = async (url: string, sku: string, userId: string, requestId: string): Promise<Answer> => {
  const sentAt = Date.now();
  const { status, body } = await postJson(`${url}/reserve`, { sku, userId, requestId });
  return { userId, status, error: (body.error as string | undefined) ?? null, sentAt, answeredAt: Date.now() };
};

const crowdBuys = async (url: string, sku: string, users: string[]): Promise<Answer[]> => {
  const answers: Answer[] = [];
  const send = async (userId: string, requestId: string) => void answers.push(await buy(url, sku, userId, requestId));
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < users.length) {
        const i = next++;
        const userId = users[i];
        const tries = [send(userId, `${userId}-r1`)];
        if (i % 10 === 0) tries.push(send(userId, `${userId}-r1`));
        if (i % 25 === 0) tries.push(send(userId, `${userId}-r2`));
        await Promise.all(tries);
      }
    }),
  );
  return answers;
};

const reservationsOf = async (sku: string, buckets: number): Promise<{ userId: string; createdAt: number }[]> => {
  const perBucket = await Promise.all(bucketIndexes(buckets).map((b) => redis.hvals(skuKeys(sku, b).reservations)));
  return perBucket.flat().map((raw) => JSON.parse(raw) as { userId: string; createdAt: number });
};

describe('a hot SKU split into buckets over the three masters of a Redis Cluster', () => {
  it.each([3, 12])(
    'sells exactly 10,000 units in %i buckets to 50,000 skewed buyers: no SOLD_OUT while a unit was left, no user twice',
    async (buckets) => {
      const sku = uniqueSku('hot');
      await preloadSku(redis, { sku, stock: STOCK, buckets });
      const stocks = await Promise.all(bucketIndexes(buckets).map((b) => redis.get(skuKeys(sku, b).stock)));
      expect(stocks.reduce((n, s) => n + Number(s), 0)).toBe(STOCK);
      const server = await servers.start();

      const answers = await crowdBuys(server.url, sku, skewedBuyers(buckets));

      const sold = answers.filter((a) => a.status === 201);
      expect(sold).toHaveLength(STOCK);
      expect(new Set(sold.map((a) => a.userId)).size).toBe(STOCK);
      // Redis agrees: every unit reserved once, by a user who holds no other, none left, none still moving.
      const reservations = await reservationsOf(sku, buckets);
      expect(reservations).toHaveLength(STOCK);
      expect(new Set(reservations.map((r) => r.userId)).size).toBe(STOCK);
      const left = await Promise.all(bucketIndexes(buckets).map((b) => redis.get(skuKeys(sku, b).stock)));
      expect(left.map(Number)).toEqual(bucketIndexes(buckets).map(() => 0));
      expect(await unitsInTransfer(redis, sku)).toBe(0);

      // Only the refusals a sale gives: sold out, the limit or a duplicate (the retries and hammers), try again shortly.
      const refusals = new Map<string, number>();
      for (const a of answers.filter((x) => x.status !== 201)) refusals.set(`${a.status} ${a.error}`, (refusals.get(`${a.status} ${a.error}`) ?? 0) + 1);
      expect([...refusals.keys()].filter((k) => !['410 SOLD_OUT', '409 LIMIT', '409 DUPLICATE', '429 ADMISSION_CLOSED'].includes(k))).toEqual([]);

      // No false SOLD_OUT: nothing is ever released in this sale, so a buyer
      // told SOLD_OUT before another buyer even sent the request that then
      // bought a unit was refused while that unit was left. Every SOLD_OUT
      // answer must come after the last buying request was sent — and after
      // Redis reserved the last unit (same clock: one machine).
      const soldOut = answers.filter((a) => a.error === 'SOLD_OUT');
      expect(soldOut.length).toBeGreaterThan(0);
      const lastBuySent = Math.max(...sold.map((a) => a.sentAt));
      const lastReserved = Math.max(...reservations.map((r) => r.createdAt));
      const falseSoldOuts = soldOut.filter((a) => a.answeredAt < lastBuySent || a.answeredAt < lastReserved);
      expect(falseSoldOuts).toEqual([]);
    },
    240_000,
  );

  it('sells a scheduled bucketed sale whole to a crowd that arrived before the opening and keeps retrying its request', async () => {
    const buckets = 3;
    const stock = 300;
    const sku = uniqueSku('hot-scheduled');
    const startsAt = Date.now() + 2_000;
    await preloadSku(redis, { sku, stock, buckets, startsAt });
    const server = await servers.start();
    const users = skewedBuyers(buckets).slice(0, 3_000);

    // Each buyer presses buy from now on, and again (same request id) after "not started" or "try again".
    const answers: Answer[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        while (next < users.length) {
          const userId = users[next++];
          for (;;) {
            const answer = await buy(server.url, sku, userId, `${userId}-r1`);
            if (answer.status !== 403 && answer.status !== 429) {
              answers.push(answer);
              break;
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }),
    );

    const sold = answers.filter((a) => a.status === 201);
    expect(sold).toHaveLength(stock);
    expect(new Set(sold.map((a) => a.userId)).size).toBe(stock);
    expect(Math.min(...sold.map((a) => a.answeredAt))).toBeGreaterThanOrEqual(startsAt);
    expect(answers.filter((a) => a.status !== 201).map((a) => a.error)).toEqual(answers.filter((a) => a.status !== 201).map(() => 'SOLD_OUT'));
    const left = await Promise.all(bucketIndexes(buckets).map((b) => redis.get(skuKeys(sku, b).stock)));
    expect(left.map(Number)).toEqual(bucketIndexes(buckets).map(() => 0));
  }, 120_000);
});
