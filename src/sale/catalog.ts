import { groupBy } from '../group-by.js';
import type { RedisClient } from '../redis/connection.js';
import { allSkuKeys, META, type MetaField, requestField, SKU_INDEX_KEY, skuKeys, STOCK_EVENTS_CHANNEL } from '../redis/keys.js';
import { execAll } from '../redis/transaction.js';
import { bucketCount, bucketIndexes, bucketKeysOf, splitStock } from './buckets.js';
import { formatHolding } from './holdings.js';
import { bucketOfOrderId } from './ids.js';

/** Values of meta fields, by their names (redis/keys.ts META): a misspelt field does not compile. */
type MetaValues = Partial<Record<MetaField, number | string>>;

/** One SKU put on sale: what preload writes to MySQL and Redis. */
export interface SkuDefinition {
  sku: string;
  stock: number;
  /** most units one user may hold, over all their live orders */
  limit: number;
  /** sale window, ms since epoch; null = open */
  startsAt: number | null;
  endsAt: number | null;
  /** stock buckets in Redis (see buckets.ts); absent = 1 */
  buckets?: number;
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
  /** stock buckets (1 when unbucketed); stock, initial and reservations are their sums */
  buckets: number;
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
 * (holders, idempotency records, reservations, outbox, admission count,
 * transfers — of every bucket it had). One MULTI per bucket, bucket 0 last:
 * its meta says how many buckets there are, so a server never sees half a
 * SKU. A bucket's `initial` is its share of the stock.
 */
export const loadSkuIntoRedis = async (redis: RedisClient, def: SkuDefinition): Promise<void> => {
  const buckets = def.buckets ?? 1;
  const shares = splitStock(def.stock, buckets);
  const earlier = await bucketCount(redis, def.sku);
  await listSku(redis, def.sku);
  for (const b of [...bucketIndexes(Math.max(buckets, earlier)).slice(1), 0]) {
    const multi = redis.multi().del(...allSkuKeys(def.sku, b));
    if (b < buckets) {
      const k = skuKeys(def.sku, b);
      const meta: MetaValues = {
        initial: shares[b],
        limit: def.limit,
        startsAt: def.startsAt ?? 0,
        endsAt: def.endsAt ?? 0,
        released: 0,
        ...(buckets > 1 && { buckets, bucket: b }),
      };
      multi.set(k.stock, shares[b]).hset(k.meta, meta);
    }
    await execAll(multi);
  }
  // Server processes that answered the name as unknown, or kept flags of an earlier sale of it, ask Redis again.
  await redis.publish(STOCK_EVENTS_CHANNEL, `ON_SALE ${def.sku}`);
};

/** Every SKU this Redis holds a sale of (preloaded and not closed): what relays read and sweepers act on. */
export const skusOnSale = (redis: RedisClient): Promise<string[]> => redis.smembers(SKU_INDEX_KEY);

/** Units on sale in Redis now, over every bucket (units in transfer between buckets not counted); null when the SKU has no stock key. */
export const stockOf = async (redis: RedisClient, sku: string): Promise<number | null> => {
  const stocks = await Promise.all((await bucketKeysOf(redis, sku)).map((k) => redis.get(k.stock)));
  return stocks[0] === null ? null : stocks.reduce((n, stock) => n + Number(stock ?? 0), 0);
};

/** A SKU as Redis holds it: bucket 0's settings, the buckets' stock, initial shares and reservations summed. */
export const readRedisSku = async (redis: RedisClient, sku: string): Promise<RedisSkuState> => {
  const keys = await bucketKeysOf(redis, sku);
  const buckets = await Promise.all(keys.map((k) => Promise.all([redis.get(k.stock), redis.hgetall(k.meta), redis.hlen(k.reservations)])));
  const [stock, meta] = buckets[0];
  const sum = (pick: (bucket: (typeof buckets)[number]) => string | number | null | undefined) => buckets.reduce((n, b) => n + Number(pick(b) ?? 0), 0);
  const time = (v: string | undefined) => (v === undefined || v === '0' ? null : Number(v));
  const field = (name: MetaField): string | undefined => meta[name];
  return {
    loaded: field(META.initial) !== undefined,
    closedAt: time(field(META.closedAt)),
    stock: stock === null ? null : sum(([s]) => s),
    initial: field(META.initial) === undefined ? null : sum(([, m]) => m[META.initial]),
    limit: field(META.limit) === undefined ? null : Number(field(META.limit)),
    startsAt: time(field(META.startsAt)),
    endsAt: time(field(META.endsAt)),
    reservations: sum(([, , r]) => r),
    buckets: keys.length,
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
  for (const k of (await bucketKeysOf(redis, sku)).reverse()) {
    await execAll(
      redis
        .multi()
        .del(k.holders, k.requests, k.reservations, k.outbox, k.admitted, k.ticketLeases, k.transfers, k.sentTransfers, k.received)
        .hset(k.meta, META.closedAt, now)
        .hdel(k.meta, META.frozen),
    );
  }
  await unlistSku(redis, sku);
};

/** Every key of every bucket of a SKU. */
const everyKeyOf = async (redis: RedisClient, sku: string): Promise<string[][]> => bucketIndexes(await bucketCount(redis, sku)).map((b) => allSkuKeys(sku, b));

/** Removes every key of a SKU and takes it off the list: a sale bench made for a run and is done with. */
export const removeSkuFromRedis = async (redis: RedisClient, sku: string): Promise<void> => {
  for (const keys of (await everyKeyOf(redis, sku)).reverse()) await execAll(redis.multi().del(...keys));
  await unlistSku(redis, sku);
};

/** Bytes Redis uses for a SKU's keys (MEMORY USAGE, all of a key's elements sampled). */
export const skuMemoryBytes = async (redis: RedisClient, sku: string): Promise<number> => {
  const sizes = await Promise.all((await everyKeyOf(redis, sku)).flat().map((key) => redis.memory('USAGE', key, 'SAMPLES', 0)));
  return sizes.reduce<number>((n, size) => n + (size ?? 0), 0);
};

/** Every bucket's meta of a SKU gets the same fields: each bucket's script reads only its own. */
const setOnEveryBucket = async (redis: RedisClient, sku: string, fields: MetaValues): Promise<void> => {
  await Promise.all((await bucketKeysOf(redis, sku)).map((k) => redis.hset(k.meta, fields)));
};

/** Opens or closes a sale at another time; server processes that cached "not started" ask again. */
export const setSaleWindow = async (redis: RedisClient, sku: string, startsAt: number | null, endsAt: number | null): Promise<void> => {
  await setOnEveryBucket(redis, sku, { startsAt: startsAt ?? 0, endsAt: endsAt ?? 0 });
  await redis.publish(STOCK_EVENTS_CHANNEL, `ON_SALE ${sku}`);
};

/**
 * Freezes a SKU (every bucket): reserve.lua answers FROZEN until it is
 * thawed, and transfers stop, so its stock can be reset while nobody buys.
 */
export const freezeSku = (redis: RedisClient, sku: string): Promise<void> => setOnEveryBucket(redis, sku, { [META.frozen]: '1' });

export const thawSku = async (redis: RedisClient, sku: string): Promise<void> => {
  await Promise.all((await bucketKeysOf(redis, sku)).map((k) => redis.hdel(k.meta, META.frozen)));
  // Processes that flagged the SKU sold out or closed should ask Redis again.
  await redis.publish(STOCK_EVENTS_CHANNEL, `ON_SALE ${sku}`);
};

/** An order of record, as a rebuilt Redis must know it. */
export interface RecordedOrder {
  orderId: string;
  userId: string;
  qty: number;
  /** the buyer's request id, '' when it sent none */
  requestId: string;
  createdAt: number;
  cancelled: { at: number; reason: string } | null;
}

/**
 * Rebuilds a frozen SKU in Redis from MySQL, the record: stock = MySQL stock
 * (split over the buckets MySQL names, as at preload; transfers under way are void, their
 * units are in MySQL's stock), a holding per live order, a persisted
 * reservation record per order (a cancelled one released) and the request
 * id of every order that carries one, live or cancelled, in the order's
 * bucket, the admission count from zero. Used by reconcile only while the
 * SKU is frozen and nothing is in flight, so the MySQL stock is exactly what
 * may still be sold. The SKU stays frozen: the caller thaws it.
 */
export const rebuildSkuInRedis = async (
  redis: RedisClient,
  def: SkuDefinition & { initialStock: number },
  orders: RecordedOrder[],
  now = Date.now(),
): Promise<void> => {
  // MySQL's count, not Redis's: a Redis that restarted empty says 1.
  const buckets = def.buckets ?? 1;
  const [stocks, initials] = [splitStock(def.stock, buckets), splitStock(def.initialStock, buckets)];
  const byBucket = groupBy(orders, (o) => bucketOfOrderId(o.orderId));
  await listSku(redis, def.sku);
  for (const b of bucketIndexes(buckets)) {
    const meta: MetaValues = {
      initial: initials[b],
      limit: def.limit,
      startsAt: def.startsAt ?? 0,
      endsAt: def.endsAt ?? 0,
      released: 0,
      frozen: 1,
      ...(buckets > 1 && { buckets, bucket: b }),
    };
    await rebuildBucket(redis, def.sku, b, stocks[b], meta, byBucket.get(b) ?? [], now);
  }
};

const rebuildBucket = async (
  redis: RedisClient,
  sku: string,
  bucket: number,
  stock: number,
  meta: MetaValues,
  orders: RecordedOrder[],
  now: number,
): Promise<void> => {
  const k = skuKeys(sku, bucket);
  const multi = redis
    .multi()
    .del(k.stock, k.holders, k.reservations, k.admitted, k.ticketLeases, k.transfers, k.sentTransfers, k.received)
    .set(k.stock, stock)
    .hset(k.meta, meta)
    .hdel(k.meta, META.sent, META.received, META.soldOutAnnounced);
  for (const o of orders) {
    const record = {
      orderId: o.orderId,
      sku,
      userId: o.userId,
      qty: o.qty,
      requestId: o.requestId,
      createdAt: o.createdAt,
      persistedAt: now,
      ...(o.cancelled && { releasedAt: o.cancelled.at, reason: o.cancelled.reason }),
    };
    multi.hset(k.reservations, o.orderId, JSON.stringify(record));
    // What its buyer was told: reserve.lua answers a retry DUPLICATE with this order, whatever became of it
    // (release.lua leaves request ids alone). Added to those Redis still has, which a reset keeps.
    if (o.requestId !== '') multi.hset(k.requests, requestField(o.userId, o.requestId), o.orderId);
  }
  const holdings = groupBy(
    orders.filter((o) => !o.cancelled),
    (o) => o.userId,
  );
  for (const [userId, held] of holdings) multi.hset(k.holders, userId, formatHolding(held));
  await execAll(multi);
};
