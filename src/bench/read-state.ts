import type { Redis } from 'ioredis';
import { stockOf } from '../sale/catalog.js';
import { readSkuState, type SaleStores } from '../sale/read-state.js';
import { inFlightUnits, isInFlight, isLive } from '../sale/state.js';
import type { LoadResult } from './load-plan.js';
import type { JudgedSku, SaleState } from './sale-state.js';

export interface ReadTarget extends SaleStores {
  usesRedis: boolean;
  skus: { sku: string; expectSellOut: boolean }[];
}

/** Reads both stores into the state the invariant checker judges, with what the buyers were answered. */
export const readSaleState = async (target: ReadTarget, buyers: Pick<LoadResult, 'answers' | 'unread' | 'admissionClosed'>): Promise<SaleState> => ({
  usesRedis: target.usesRedis,
  skus: await Promise.all(
    target.skus.map(async ({ sku, expectSellOut }): Promise<JudgedSku> => {
      const state = await readSkuState(target, sku, target.usesRedis);
      if (state === null) throw new Error(`SKU ${sku} has no inventory row in MySQL`);
      return { ...state, expectSellOut };
    }),
  ),
  answers: buyers.answers,
  unread: buyers.unread,
  admissionClosed: buyers.admissionClosed,
});

/**
 * True once nothing is on its way any more: every reservation is in MySQL or
 * released, every cancelled order's unit is back in Redis and, when buyers
 * pay, no order still waits for payment or its timeout.
 */
export const isDrained = (state: SaleState, waitForPayments: boolean): boolean =>
  state.skus.every((s) => {
    if (waitForPayments && s.orders.some((o) => o.status === 'PENDING')) return false;
    if (!state.usesRedis) return true;
    if (s.reservations.some(isInFlight)) return false;
    const released = new Set(s.reservations.filter((r) => r.released).map((r) => r.orderId));
    return s.orders.every((o) => isLive(o) || released.has(o.orderId));
  });

/** Units on their way to MySQL, over every SKU of the state. */
export const unitsInFlight = (state: SaleState): number => state.skus.reduce((n, s) => n + inFlightUnits(s), 0);

/** Units on sale in Redis across some SKUs: cheap reads, for sampling during a load. */
export const totalRedisStock = async (redis: Redis, skus: string[]): Promise<number> =>
  (await Promise.all(skus.map((sku) => stockOf(redis, sku)))).reduce<number>((n, v) => n + (v ?? 0), 0);
