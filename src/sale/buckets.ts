import type { RedisClient } from '../redis/connection.js';
import { META, skuKeys } from '../redis/keys.js';

export { bucketName } from '../redis/keys.js';

/**
 * A hot SKU's stock split into buckets (`preload --buckets B`), each in a
 * cluster slot of its own, so its reservations spread over B masters' cores
 * instead of queueing on one. What stays inside one bucket's atomic script:
 * a buyer always buys from the bucket their user id maps to, so the per-user
 * limit and request-id idempotency hold as for one bucket. Units move
 * between buckets by transfers (transfers.ts); the SKU is sold out only when
 * every bucket is empty and no transfer is under way.
 *
 * Bucket 0's meta says how many buckets there are (`buckets`; absent = 1,
 * the layout of an unbucketed SKU) and is written last at preload, so a
 * reader never sees a count whose buckets are not all there.
 */

/** Enough to spread one SKU over any cluster we expect; order ids name the bucket in up to 4 digits. */
export const MAX_BUCKETS = 256;

/** The bucket a user buys from: FNV-1a of the user id, mod B. Stable across processes and restarts. */
export const bucketOfUser = (userId: string, buckets: number): number => {
  if (buckets <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    hash ^= userId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % buckets;
};

/** 0 … buckets − 1. */
export const bucketIndexes = (buckets: number): number[] => Array.from({ length: buckets }, (_, b) => b);

/** How many buckets a SKU's stock is in (1 for an unbucketed SKU, and for one that is not loaded). */
export const bucketCount = async (redis: RedisClient, sku: string): Promise<number> => Number((await redis.hget(skuKeys(sku).meta, META.buckets)) ?? 1);

/** Every bucket's keys of a SKU, bucket 0 first. */
export const bucketKeysOf = async (redis: RedisClient, sku: string) => bucketIndexes(await bucketCount(redis, sku)).map((b) => skuKeys(sku, b));

/** `stock` split over `buckets`: equal shares, the remainder one unit each to the first buckets. */
export const splitStock = (stock: number, buckets: number): number[] =>
  bucketIndexes(buckets).map((b) => Math.floor(stock / buckets) + (b < stock % buckets ? 1 : 0));

/** How a SKU's stock is laid out in Redis, as a server process needs it on every request. */
export interface SaleLayout {
  /** stock buckets (1: an unbucketed SKU) */
  buckets: number;
  /** a bucket left with this many units or fewer after a sale is topped up from the others (a tenth of its share) */
  lowWater: number;
}

const UNBUCKETED: SaleLayout = { buckets: 1, lowWater: 0 };

/** A SKU's layout, read from bucket 0's meta; null when no sale of it is loaded. */
export const readSaleLayout = async (redis: RedisClient, sku: string): Promise<SaleLayout | null> => {
  const [initial, buckets] = await redis.hmget(skuKeys(sku).meta, META.initial, META.buckets);
  if (initial === null) return null;
  return buckets === null ? UNBUCKETED : { buckets: Number(buckets), lowWater: Math.max(1, Math.floor(Number(initial) / 10)) };
};
