import type { RedisClient } from '../redis/connection.js';
import { skuKeys } from '../redis/keys.js';
import { bucketKeysOf } from './buckets.js';
import { stockOf } from './catalog.js';
import { groupBy } from '../group-by.js';
import { parseHolding } from './holdings.js';
import { bucketOfOrderId } from './ids.js';
import { unitsInTransfer } from './transfers.js';
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
  inventory: { initialStock: number; stock: number; limit: number; startsAt: number | null; endsAt: number | null } | null;
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

/** Every reservation record of a SKU (of every bucket). */
export const readReservations = async (redis: RedisClient, sku: string): Promise<ReservationFact[]> =>
  (await Promise.all((await bucketKeysOf(redis, sku)).map((k) => redis.hgetall(k.reservations)))).flatMap((records) =>
    Object.values(records).map((raw) => factOf(JSON.parse(raw) as ReservationRecord)),
  );

/** Some reservation records of a SKU, each from its order's bucket, in the order asked; null where there is none. */
export const readReservationsById = async (redis: RedisClient, sku: string, orderIds: string[]): Promise<(ReservationFact | null)[]> => {
  const found = new Map<string, ReservationFact>();
  for (const [bucket, ids] of groupBy(orderIds, bucketOfOrderId)) {
    for (const raw of await redis.hmget(skuKeys(sku, bucket).reservations, ...ids)) {
      if (raw !== null) {
        const fact = factOf(JSON.parse(raw) as ReservationRecord);
        found.set(fact.orderId, fact);
      }
    }
  }
  return orderIds.map((id) => found.get(id) ?? null);
};

/** Every (user, order) the SKU's holdings list (of every bucket). */
export const readHoldings = async (redis: RedisClient, sku: string): Promise<{ userId: string; orderId: string }[]> =>
  (await Promise.all((await bucketKeysOf(redis, sku)).map((k) => redis.hgetall(k.holders)))).flatMap((holders) =>
    Object.entries(holders).flatMap(([userId, raw]) => parseHolding(raw).map(({ orderId }) => ({ userId, orderId }))),
  );

/**
 * One SKU as both stores hold it now; null when MySQL has no inventory row.
 * `usesRedis` false reads MySQL alone (a baseline that never touched Redis).
 */
export const readSkuState = async ({ redis, readRecord }: SaleStores, sku: string, usesRedis = true): Promise<SkuState | null> => {
  const [{ inventory, orders }, redisStock, inTransferUnits, reservations] = await Promise.all([
    readRecord(sku),
    usesRedis ? stockOf(redis, sku) : null,
    usesRedis ? unitsInTransfer(redis, sku) : 0,
    usesRedis ? readReservations(redis, sku) : [],
  ]);
  if (inventory === null) return null;
  return {
    sku,
    initialStock: inventory.initialStock,
    limit: inventory.limit,
    startsAt: inventory.startsAt,
    endsAt: inventory.endsAt,
    mysqlStock: inventory.stock,
    redisStock,
    ...(inTransferUnits > 0 && { inTransferUnits }),
    orders: orders.map(({ orderId, userId, requestId, qty, status, reason, createdAt }) => ({ orderId, userId, requestId, qty, status, reason, createdAt })),
    reservations,
  };
};
