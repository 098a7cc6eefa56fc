import { readSkuState, type SaleStores } from '../../sale/read-state.js';
import { inFlightUnits, isInFlight, isLive, type SkuState } from '../../sale/state.js';
import type { Answer, LoadResult } from '../load/load-plan.js';

/**
 * Everything the invariant checker looks at: each SKU's state as both stores
 * hold it once the pipeline has drained (src/sale/state.ts), what the
 * scenario expected of it, and what the buyers were answered. Plain data, so
 * the checker is a pure function and can be tested on doctored state.
 */
export interface JudgedSku extends SkuState {
  /** true when the scenario admitted more distinct buyers than units: nothing may be left unsold */
  expectSellOut: boolean;
}

export interface SaleState {
  /** 'seckill' checks Redis too; the baselines are checked on MySQL alone */
  usesRedis: boolean;
  skus: JudgedSku[];
  /** every 201 and every 409 that carried an order id (first attempts and retries of lost replies), in the order received */
  answers: Answer[];
  /** 429 ADMISSION_CLOSED answers per SKU */
  admissionClosed?: Record<string, number>;
  /** requests whose outcome the load generator never learned (cut when it stopped, by a dead connection, a timeout, or answered 5xx): an order may exist for them */
  unread?: { sku: string; userId: string; requestId: string }[];
}

export interface InvariantResult {
  name: string;
  ok: boolean;
  /** what broke, with the offending ids (at most a few), or a one-line summary when ok */
  detail: string;
}

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
