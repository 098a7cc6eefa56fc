import type { Redis } from 'ioredis';
import { allSkuKeys, SKU_INDEX_KEY, skuKeys } from '../redis/keys.js';

/** One SKU put on sale: what preload writes to MySQL and Redis. */
export interface SkuDefinition {
  sku: string;
  stock: number;
  /** most units one user may hold (in one live order) */
  limit: number;
  /** sale window, ms since epoch; null = open */
  startsAt: number | null;
  endsAt: number | null;
}

export interface RedisSkuState {
  loaded: boolean;
  stock: number | null;
  initial: number | null;
  limit: number | null;
  startsAt: number | null;
  endsAt: number | null;
  reservations: number;
}

/**
 * Puts a SKU on sale in Redis, clearing every key an earlier sale of it left
 * (holders, idempotency records, reservations, outbox, admission count).
 * One MULTI, so a server never sees half a SKU.
 */
export const loadSkuIntoRedis = async (redis: Redis, def: SkuDefinition): Promise<void> => {
  const k = skuKeys(def.sku);
  await redis
    .multi()
    .del(...allSkuKeys(def.sku))
    .set(k.stock, def.stock)
    .hset(k.meta, {
      initial: def.stock,
      limit: def.limit,
      startsAt: def.startsAt ?? 0,
      endsAt: def.endsAt ?? 0,
      released: 0,
    })
    .sadd(SKU_INDEX_KEY, def.sku)
    .exec();
};

export const readRedisSku = async (redis: Redis, sku: string): Promise<RedisSkuState> => {
  const k = skuKeys(sku);
  const [stock, meta, reservations] = await Promise.all([
    redis.get(k.stock),
    redis.hgetall(k.meta),
    redis.hlen(k.reservations),
  ]);
  const num = (v: string | null | undefined) => (v === null || v === undefined ? null : Number(v));
  const time = (v: string | undefined) => (v === undefined || v === '0' ? null : Number(v));
  return {
    loaded: meta.initial !== undefined,
    stock: num(stock),
    initial: num(meta.initial),
    limit: num(meta.limit),
    startsAt: time(meta.startsAt),
    endsAt: time(meta.endsAt),
    reservations,
  };
};
