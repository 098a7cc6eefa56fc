import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { SKU_INDEX_KEY, skuKeys } from '../../src/redis/keys.js';
import type { InventoryColumns, OrderColumns, Row } from '../../src/store/rows.js';
import { newRedis, postJson, startSeckill, testMysql, type RunningProcess } from '../helpers.js';

export interface Bought {
  userId: string;
  status: number;
  orderId: string | null;
}

/** `buyers` distinct users each POST /reserve once, `concurrency` at a time. */
export const buyMany = async (url: string, sku: string, buyers: number, concurrency = 100, userPrefix = 'u'): Promise<Bought[]> => {
  const results: Bought[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < buyers) {
        const userId = `${userPrefix}${next++}`;
        const { status, body } = await postJson(`${url}/reserve`, { sku, userId, requestId: `${userId}-r1` });
        results.push({ userId, status, orderId: (body.orderId as string | undefined) ?? null });
      }
    }),
  );
  return results;
};

export const ordersOf = async (sku: string): Promise<Pick<OrderColumns, 'order_id' | 'user_id' | 'status' | 'qty' | 'reason'>[]> => {
  const [rows] = await (
    await testMysql()
  ).query<Row<Pick<OrderColumns, 'order_id' | 'user_id' | 'status' | 'qty' | 'reason'>>[]>(
    'SELECT order_id, user_id, status, qty, reason FROM orders WHERE sku = ?',
    [sku],
  );
  return rows;
};

export const mysqlStock = async (sku: string): Promise<number> => {
  const [rows] = await (await testMysql()).query<Row<Pick<InventoryColumns, 'stock'>>[]>('SELECT stock FROM inventory WHERE sku = ?', [sku]);
  return rows[0].stock;
};

const statsRedis = newRedis();
export const redisStock = async (sku: string): Promise<number> => Number(await statsRedis.get(skuKeys(sku).stock));
export const closeStats = () => statsRedis.quit();

/** Relay and consumer for one queue kind, with a Kafka topic prefix of the test's own. */
export const startPipeline = async (queue: 'kafka' | 'redis', prefix: string, consumeArgs: string[] = [], env: NodeJS.ProcessEnv = {}) => {
  // Short session timeout and claim delay: a killed process's work moves on quickly.
  const common = ['--queue', queue, '--topic-prefix', prefix, '--claim-after', '500', '--session-timeout', '6000'];
  const processes: RunningProcess[] = [];
  const stop = () => Promise.all(processes.map((p) => p.stop()));
  try {
    if (queue === 'kafka') processes.push(await startSeckill('relay', common, env));
    processes.push(await startSeckill('consume', [...common, ...consumeArgs], env));
  } catch (error) {
    await stop(); // a relay left running would take later tests' outbox entries
    throw error;
  }
  return { processes, stop };
};

/**
 * What a pipeline test file needs, its hooks registered in that file: a Redis
 * client; every process a test starts stopped when it ends (a relay left
 * running would take the next test's outbox entries to its own topic); and
 * only the test's own SKUs in the index relays and consumers read, so entries
 * other tests left behind (never relayed, by design of those tests) cannot
 * reach its pipeline.
 */
export const pipelineTestKit = () => {
  const redis = newRedis();
  const running: { stop(): Promise<unknown> }[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
  });
  beforeEach(() => redis.del(SKU_INDEX_KEY));
  afterAll(() => Promise.all([redis.quit(), closeStats()]));
  return {
    redis,
    /** a Kafka topic prefix of the test's own */
    prefix: () => `t${randomBytes(3).toString('hex')}.`,
    track: <T extends { stop(): Promise<unknown> }>(p: T): T => {
      running.push(p);
      return p;
    },
    /** Every 201 has exactly one order in MySQL, and no other order exists. */
    expectOrdersMatchAnswers: async (sku: string, answers: { status: number; orderId: string | null }[]) => {
      const sold = answers.filter((a) => a.status === 201).map((a) => a.orderId);
      const orders = await ordersOf(sku);
      expect(orders.map((o) => o.order_id).sort()).toEqual([...sold].sort());
    },
  };
};
