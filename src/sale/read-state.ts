import type { RedisClient } from '../redis/connection.js';
import { skuKeys } from '../redis/keys.js';
import { parseHolding } from './holdings.js';
import type { ReservationRecord } from './reservations.js';
import type { OrderFact, ReservationFact, SkuState } from './state.js';

/**
 * Reading a sale's state (state.ts) from both stores. The MySQL side comes
 * through `readRecord`, which src/store provides (`readSkuRecord`): the
 * domain says what it needs of the record, the store how to read it.
 */

/** One SKU's record in MySQL, as of one moment. */
export interface SkuRecord {
  /** null when MySQL has no inventory row for it */
  inventory: { initialStock: number; stock: number; limit: number } | null;
  orders: OrderFact[];
}

export interface SaleStores {
  redis: RedisClient;
  readRecord: (sku: string) => Promise<SkuRecord>;
}

const factOf = (r: ReservationRecord): ReservationFact => ({
  orderId: r.orderId,
  userId: r.userId,
  qty: r.qty,
  reservedAt: r.createdAt,
  persisted: r.persistedAt !== undefined,
  persistedAt: r.persistedAt,
  released: r.releasedAt !== undefined,
  reason: r.reason ?? null,
});

/** Every reservation record of a SKU. */
export const readReservations = async (redis: RedisClient, sku: string): Promise<ReservationFact[]> =>
  Object.values(await redis.hgetall(skuKeys(sku).reservations)).map((raw) => factOf(JSON.parse(raw) as ReservationRecord));

/** Some reservation records of a SKU, in the order asked; null where there is none. */
export const readReservationsById = async (redis: RedisClient, sku: string, orderIds: string[]): Promise<(ReservationFact | null)[]> =>
  orderIds.length === 0 ? [] : (await redis.hmget(skuKeys(sku).reservations, ...orderIds)).map((raw) => (raw === null ? null : factOf(JSON.parse(raw) as ReservationRecord)));

/** Every (user, order) the SKU's holdings list. */
export const readHoldings = async (redis: RedisClient, sku: string): Promise<{ userId: string; orderId: string }[]> =>
  Object.entries(await redis.hgetall(skuKeys(sku).holders)).flatMap(([userId, raw]) => parseHolding(raw).map(({ orderId }) => ({ userId, orderId })));

/**
 * One SKU as both stores hold it now; null when MySQL has no inventory row.
 * `usesRedis` false reads MySQL alone (a baseline that never touched Redis).
 */
export const readSkuState = async ({ redis, readRecord }: SaleStores, sku: string, usesRedis = true): Promise<SkuState | null> => {
  const [{ inventory, orders }, redisStock, reservations] = await Promise.all([
    readRecord(sku),
    usesRedis ? redis.get(skuKeys(sku).stock) : null,
    usesRedis ? readReservations(redis, sku) : [],
  ]);
  if (inventory === null) return null;
  return {
    sku,
    initialStock: inventory.initialStock,
    limit: inventory.limit,
    mysqlStock: inventory.stock,
    redisStock: redisStock === null ? null : Number(redisStock),
    orders: orders.map(({ orderId, userId, requestId, qty, status, reason }) => ({ orderId, userId, requestId, qty, status, reason })),
    reservations,
  };
};
