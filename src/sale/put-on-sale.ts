import type { RedisClient } from '../redis/connection.js';
import { loadSkuIntoRedis, readRedisSku, type SkuDefinition } from './catalog.js';

/**
 * Putting SKUs on sale: the one way it is done, by `seckill preload`, by
 * bench for each run, and by the tests. MySQL first — a SKU visible in Redis
 * always has its row of record — then Redis. A SKU that already has orders
 * or reservations is never replaced silently: unless `reset`, nothing is
 * changed and what would be is said.
 */

/** What putting a SKU on sale needs of MySQL; src/store provides it (`inventoryRecord`). */
export interface InventoryRecord {
  read(sku: string): Promise<{ stock: number; limit: number; startsAt: number | null; endsAt: number | null; buckets: number } | null>;
  countOrders(sku: string): Promise<number>;
  /** writes the row afresh, deleting the SKU's orders and holdings */
  replace(def: SkuDefinition): Promise<void>;
}

/** What putting one SKU on sale replaces: `changes` is empty when it is new. */
export interface SaleChange {
  sku: string;
  changes: string[];
  orders: number;
  reservations: number;
}

export type PutOnSaleResult = { ok: true; changes: SaleChange[] } | { ok: false; refused: SaleChange[] };

const iso = (ms: number | null) => (ms === null ? 'open' : new Date(ms).toISOString());

const describeChange = async (redis: RedisClient, record: InventoryRecord, def: SkuDefinition): Promise<SaleChange> => {
  const [row, orders, cached] = await Promise.all([record.read(def.sku), record.countOrders(def.sku), readRedisSku(redis, def.sku)]);
  const changes: string[] = [];
  const diff = (what: string, from: unknown, to: unknown) => {
    if (from !== to) changes.push(`${what} ${String(from)} → ${String(to)}`);
  };
  if (row) {
    diff('MySQL stock', row.stock, def.stock);
    diff('limit', row.limit, def.limit);
    diff('starts', iso(row.startsAt), iso(def.startsAt));
    diff('ends', iso(row.endsAt), iso(def.endsAt));
    diff('buckets', row.buckets, def.buckets ?? 1);
  }
  if (cached.loaded) diff('Redis stock', cached.stock, def.stock);
  if (orders > 0) changes.push(`${orders} MySQL orders deleted`);
  if (cached.reservations > 0) changes.push(`${cached.reservations} Redis reservations deleted`);
  return { sku: def.sku, changes, orders, reservations: cached.reservations };
};

export const putOnSale = async (redis: RedisClient, record: InventoryRecord, defs: SkuDefinition[], options: { reset: boolean }): Promise<PutOnSaleResult> => {
  const changes = await Promise.all(defs.map((def) => describeChange(redis, record, def)));
  const refused = changes.filter((c) => c.orders + c.reservations > 0);
  if (refused.length > 0 && !options.reset) return { ok: false, refused };
  for (const def of defs) {
    await record.replace(def);
    await loadSkuIntoRedis(redis, def);
  }
  return { ok: true, changes };
};
