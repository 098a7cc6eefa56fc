import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import { skuKeys } from '../redis/keys.js';
import type { ReservationRecord } from '../sale/reservations.js';
import { readSkuRecord } from '../store/orders.js';
import type { Answer } from './load-plan.js';
import type { ReservationFact, SaleState, SkuState } from './sale-state.js';

export interface ReadTarget {
  redis: Redis;
  mysql: Pool;
  usesRedis: boolean;
  skus: { sku: string; expectSellOut: boolean }[];
}

const readReservations = async (redis: Redis, sku: string): Promise<ReservationFact[]> =>
  Object.values(await redis.hgetall(skuKeys(sku).reservations)).map((raw) => {
    const r = JSON.parse(raw) as ReservationRecord;
    return { orderId: r.orderId, userId: r.userId, qty: r.qty, persisted: r.persistedAt !== undefined, persistedAt: r.persistedAt, released: r.releasedAt !== undefined, reason: r.reason ?? null };
  });

const readSku = async ({ redis, mysql, usesRedis }: ReadTarget, sku: string, expectSellOut: boolean): Promise<SkuState> => {
  const [{ inventory: row, orders }, redisStock, reservations] = await Promise.all([
    readSkuRecord(mysql, sku),
    usesRedis ? redis.get(skuKeys(sku).stock) : null,
    usesRedis ? readReservations(redis, sku) : [],
  ]);
  if (!row) throw new Error(`SKU ${sku} has no inventory row in MySQL`);
  return {
    sku,
    initialStock: row.initialStock,
    limit: row.limit,
    mysqlStock: row.stock,
    redisStock: redisStock === null ? null : Number(redisStock),
    orders: orders.map((o) => ({ orderId: o.orderId, userId: o.userId, requestId: o.requestId, qty: o.qty, status: o.status, reason: o.reason })),
    reservations,
    expectSellOut,
  };
};

/** Reads Redis and MySQL into the plain state the invariant checker looks at. */
export const readSaleState = async (target: ReadTarget, answers: Answer[], unread: SaleState['unread'] = []): Promise<SaleState> => ({
  usesRedis: target.usesRedis,
  skus: await Promise.all(target.skus.map((s) => readSku(target, s.sku, s.expectSellOut))),
  answers,
  unread,
});

/** Units reserved in Redis but neither in MySQL nor released yet. */
export const inFlightUnits = (sku: SkuState): number =>
  sku.reservations.filter((r) => !r.persisted && !r.released).reduce((n, r) => n + r.qty, 0);

/**
 * True once nothing is on its way any more: every reservation is in MySQL or
 * released, every cancelled order's unit is back in Redis and, when buyers
 * pay, no order still waits for payment or its timeout.
 */
export const isDrained = (state: SaleState, waitForPayments: boolean): boolean =>
  state.skus.every((s) => {
    if (waitForPayments && s.orders.some((o) => o.status === 'PENDING')) return false;
    if (!state.usesRedis) return true;
    if (inFlightUnits(s) > 0) return false;
    const released = new Set(s.reservations.filter((r) => r.released).map((r) => r.orderId));
    return s.orders.every((o) => o.status !== 'CANCELLED' || released.has(o.orderId));
  });

/** Units on sale in Redis across some SKUs: one cheap read, for sampling during a load. */
export const totalRedisStock = async (redis: Redis, skus: string[]): Promise<number> =>
  (await Promise.all(skus.map((sku) => redis.get(skuKeys(sku).stock)))).reduce((n, v) => n + Number(v ?? 0), 0);
