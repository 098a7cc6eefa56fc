import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../../redis/connection.js';
import type { Pool } from 'mysql2/promise';
import { totalMysqlStock } from '../../store/inventory.js';
import { pendingOrders } from '../../store/orders.js';
import { stockOf } from '../../sale/catalog.js';
import { TIME_SLOT_MS } from '../load/load-plan.js';

/** Units on sale, in both stores, at one moment. */
export interface StockPoint {
  /** ms since the load started (negative: the stock the load started with, read just before) */
  atMs: number;
  /** null when the strategy keeps no stock in Redis */
  redis: number | null;
  mysql: number;
}

/** A sample as read: `at` is wall-clock time (ms since epoch); the run moves it to the load's zero. */
export type StockSample = Omit<StockPoint, 'atMs'> & { at: number };

/** As fine as the load's timeline: the stock chart must show the sell-out the answers chart shows. */
const SAMPLE_EVERY_MS = TIME_SLOT_MS;

export interface SamplerOptions {
  redis: RedisClient;
  mysql: Pool;
  skus: string[];
  /** read Redis stock too (the seckill strategy) */
  usesRedis: boolean;
  /**
   * the paying buyers, when the scenario has them: they pay their share of
   * the PENDING orders at `url`, signed in as the order's buyer when the
   * server checks (`authorization`: their Authorization header)
   */
  payers: { url: string; share: number; authorization: ((userId: string) => string) | null } | null;
}

/**
 * Every TIME_SLOT_MS while a run lasts (on a fixed schedule, so a slow read does
 * not stretch the series): the stock in both stores (for the report's chart)
 * and, for a scenario whose buyers pay, their payments. `stop` returns the
 * samples.
 */
export const startSampler = (options: SamplerOptions) => {
  const points: StockSample[] = [];
  const paid = new Set<string>();
  let sampling = true;
  const loop = (async () => {
    for (let next = Date.now(); sampling; next += SAMPLE_EVERY_MS) {
      try {
        const [redisStock, mysqlStock] = await Promise.all([
          options.usesRedis ? totalRedisStock(options.redis, options.skus) : null,
          totalMysqlStock(options.mysql, options.skus),
        ]);
        points.push({ at: Date.now(), redis: redisStock, mysql: mysqlStock });
        if (options.payers) await payOrders(options.payers, options.mysql, options.skus, paid);
      } catch {
        // A fault took down what this sample reads (or the server a payment goes to): the next one tries again.
      }
      // Behind schedule (a read that took longer than the period): start again from now rather than burst.
      next = Math.max(next, Date.now() - SAMPLE_EVERY_MS);
      await sleep(Math.max(0, next + SAMPLE_EVERY_MS - Date.now()));
    }
  })();
  return {
    stop: async (): Promise<StockSample[]> => {
      sampling = false;
      await loop;
      return points;
    },
  };
};

/** A deterministic share of orders is paid: the same orders in every run of a seed. */
const isPayer = (orderId: string, share: number): boolean => {
  let h = 2166136261;
  for (let i = 0; i < orderId.length; i++) h = Math.imul(h ^ orderId.charCodeAt(i), 16777619);
  return (h >>> 0) / 4_294_967_296 < share;
};

/** The paying buyers: pay their share of the PENDING orders, each once. */
const payOrders = async (payers: NonNullable<SamplerOptions['payers']>, mysql: Pool, skus: string[], paid: Set<string>): Promise<void> => {
  const due = (await pendingOrders(mysql, skus)).filter((o) => !paid.has(o.orderId) && isPayer(o.orderId, payers.share));
  await Promise.all(
    due.map(async (o) => {
      paid.add(o.orderId);
      const headers: Record<string, string> = payers.authorization ? { authorization: payers.authorization(o.userId) } : {};
      await fetch(`${payers.url}/orders/${o.orderId}/pay`, { method: 'POST', body: JSON.stringify({ userId: o.userId }), headers });
    }),
  );
};

/** Units on sale in Redis across some SKUs: cheap reads, for sampling during a load. */
const totalRedisStock = async (redis: RedisClient, skus: string[]): Promise<number> =>
  (await Promise.all(skus.map((sku) => stockOf(redis, sku)))).reduce<number>((n, v) => n + (v ?? 0), 0);
