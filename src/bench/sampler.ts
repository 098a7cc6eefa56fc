import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis/connection.js';
import type { Pool } from 'mysql2/promise';
import { totalMysqlStock } from '../store/inventory.js';
import { pendingOrders } from '../store/orders.js';
import { stockOf } from '../sale/catalog.js';

export interface StockPoint {
  second: number;
  redis: number | null;
  mysql: number;
}

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
 * Every 250 ms while a run lasts: the stock in both stores (for the report's
 * chart) and, for a scenario whose buyers pay, their payments. `since` moves
 * the chart's zero to when the load starts. `stop` returns the series.
 */
export const startSampler = (options: SamplerOptions) => {
  const points: StockPoint[] = [];
  const paid = new Set<string>();
  let zero = Date.now();
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      try {
        const [redisStock, mysqlStock] = await Promise.all([options.usesRedis ? totalRedisStock(options.redis, options.skus) : null, totalMysqlStock(options.mysql, options.skus)]);
        points.push({ second: (Date.now() - zero) / 1000, redis: redisStock, mysql: mysqlStock });
        if (options.payers) await payOrders(options.payers, options.mysql, options.skus, paid);
      } catch {
        // A fault took down what this sample reads (or the server a payment goes to): the next one tries again.
      }
      await sleep(250);
    }
  })();
  return {
    since: (at: number) => void (zero = at),
    stop: async (): Promise<StockPoint[]> => {
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
