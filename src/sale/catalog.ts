import { groupBy } from '../group-by.js';
import type { RedisClient } from '../redis/connection.js';
import { allSkuKeys, SKU_INDEX_KEY, skuKeys, STOCK_EVENTS_CHANNEL } from '../redis/keys.js';
import { execAll } from '../redis/transaction.js';
import { formatHolding } from './holdings.js';

/** One SKU put on sale: what preload writes to MySQL and Redis. */
export interface SkuDefinition {
  sku: string;
  stock: number;
  /** most units one user may hold, over all their live orders */
  limit: number;
  /** sale window, ms since epoch; null = open */
  startsAt: number | null;
  endsAt: number | null;
}

export interface RedisSkuState {
  loaded: boolean;
  /** when `seckill close` closed it (ms), or null: a closed sale keeps only its stock and meta */
  closedAt: number | null;
  stock: number | null;
  initial: number | null;
  limit: number | null;
  startsAt: number | null;
  endsAt: number | null;
  reservations: number;
}

/*
 * The list of SKUs on sale (SKU_INDEX_KEY) lives in a slot of its own, so on
 * a Redis Cluster it cannot share a MULTI with a SKU's `{sku}` keys. It is
 * kept a superset of the SKUs whose keys are on sale: a SKU is listed before
 * its keys are written and unlisted after they are closed, so a crash between
 * the two steps leaves a listed SKU without a sale (readers skip it) — never
 * a sale that relays and sweepers cannot find.
 */
const listSku = (redis: RedisClient, sku: string) => redis.sadd(SKU_INDEX_KEY, sku);
const unlistSku = (redis: RedisClient, sku: string) => redis.srem(SKU_INDEX_KEY, sku);

/**
 * Puts a SKU on sale in Redis, clearing every key an earlier sale of it left
 * (holders, idempotency records, reservations, outbox, admission count).
 * One MULTI over the SKU's keys, so a server never sees half a SKU.
 */
export const loadSkuIntoRedis = async (redis: RedisClient, def: SkuDefinition): Promise<void> => {
  const k = skuKeys(def.sku);
  await listSku(redis, def.sku);
  await execAll(
    redis
      .multi()
      .del(...allSkuKeys(def.sku))
      .set(k.stock, def.stock)
      .hset(k.meta, {
        initial: def.stock,
        limit: def.limit,
        startsAt: def.startsAt ?? 0,
        endsAt: def.endsAt ?? 0,
        released: 0,
      }),
  );
};

/** Every SKU this Redis holds a sale of (preloaded and not closed): what relays read and sweepers act on. */
export const skusOnSale = (redis: RedisClient): Promise<string[]> => redis.smembers(SKU_INDEX_KEY);

/** Units on sale in Redis now; null when the SKU has no stock key. */
export const stockOf = async (redis: RedisClient, sku: string): Promise<number | null> => {
  const stock = await redis.get(skuKeys(sku).stock);
  return stock === null ? null : Number(stock);
};

export const readRedisSku = async (redis: RedisClient, sku: string): Promise<RedisSkuState> => {
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
    closedAt: time(meta.closedAt),
    stock: num(stock),
    initial: num(meta.initial),
    limit: num(meta.limit),
    startsAt: time(meta.startsAt),
    endsAt: time(meta.endsAt),
    reservations,
  };
};

/**
 * Closes a sale that has ended and drained: keeps what reconcile needs (the
 * stock and the meta, marked `closedAt`) and removes the rest — holdings,
 * request ids, reservation records, the outbox and its consumer groups, the
 * admission count — and takes it off the list relays and sweepers read. One
 * MULTI. The caller has checked that nothing is in flight.
 */
export const closeSkuInRedis = async (redis: RedisClient, sku: string, now = Date.now()): Promise<void> => {
  const k = skuKeys(sku);
  await execAll(redis.multi().del(k.holders, k.requests, k.reservations, k.outbox, k.admitted).hset(k.meta, 'closedAt', now));
  await unlistSku(redis, sku);
};

/** Removes every key of a SKU and takes it off the list: a sale bench made for a run and is done with. */
export const removeSkuFromRedis = async (redis: RedisClient, sku: string): Promise<void> => {
  await execAll(redis.multi().del(...allSkuKeys(sku)));
  await unlistSku(redis, sku);
};

/** Bytes Redis uses for a SKU's keys (MEMORY USAGE, all of a key's elements sampled). */
export const skuMemoryBytes = async (redis: RedisClient, sku: string): Promise<number> => {
  const sizes = await Promise.all(allSkuKeys(sku).map((key) => redis.memory('USAGE', key, 'SAMPLES', 0)));
  return sizes.reduce<number>((n, size) => n + (size ?? 0), 0);
};

/** Opens or closes a sale at another time; server processes that cached "not started" ask again. */
export const setSaleWindow = async (redis: RedisClient, sku: string, startsAt: number | null, endsAt: number | null): Promise<void> => {
  await redis.hset(skuKeys(sku).meta, { startsAt: startsAt ?? 0, endsAt: endsAt ?? 0 });
  await redis.publish(STOCK_EVENTS_CHANNEL, `ON_SALE ${sku}`);
};

/**
 * Freezes a SKU: reserve.lua answers FROZEN until it is thawed, so its stock
 * can be reset while nobody buys.
 */
export const freezeSku = (redis: RedisClient, sku: string): Promise<number> => redis.hset(skuKeys(sku).meta, 'frozen', '1');

export const thawSku = async (redis: RedisClient, sku: string): Promise<void> => {
  await redis.hdel(skuKeys(sku).meta, 'frozen');
  // Processes that flagged the SKU sold out or closed should ask Redis again.
  await redis.publish(STOCK_EVENTS_CHANNEL, `ON_SALE ${sku}`);
};

/** An order of record, as a rebuilt Redis must know it. */
export interface RecordedOrder {
  orderId: string;
  userId: string;
  qty: number;
  requestId: string;
  createdAt: number;
  cancelled: { at: number; reason: string } | null;
}

/**
 * Rebuilds a frozen SKU in Redis from MySQL, the record: stock = MySQL stock,
 * a holding per live order, a persisted reservation record per order (a
 * cancelled one released), the admission count from zero. Used by reconcile
 * only while the SKU is frozen and nothing is in flight, so the MySQL stock
 * is exactly what may still be sold. The SKU stays frozen: the caller thaws it.
 */
export const rebuildSkuInRedis = async (redis: RedisClient, def: SkuDefinition & { initialStock: number }, orders: RecordedOrder[], now = Date.now()): Promise<void> => {
  const k = skuKeys(def.sku);
  await listSku(redis, def.sku);
  const multi = redis
    .multi()
    .del(k.stock, k.holders, k.reservations, k.admitted)
    .set(k.stock, def.stock)
    .hset(k.meta, { initial: def.initialStock, limit: def.limit, startsAt: def.startsAt ?? 0, endsAt: def.endsAt ?? 0, released: 0, frozen: 1 });
  for (const o of orders) {
    const record = {
      orderId: o.orderId,
      sku: def.sku,
      userId: o.userId,
      qty: o.qty,
      requestId: o.requestId,
      createdAt: o.createdAt,
      persistedAt: now,
      ...(o.cancelled && { releasedAt: o.cancelled.at, reason: o.cancelled.reason }),
    };
    multi.hset(k.reservations, o.orderId, JSON.stringify(record));
  }
  const holdings = groupBy(orders.filter((o) => !o.cancelled), (o) => o.userId);
  for (const [userId, held] of holdings) multi.hset(k.holders, userId, formatHolding(held));
  await execAll(multi);
};
