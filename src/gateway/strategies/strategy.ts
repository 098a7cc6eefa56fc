import type { BuyRequest, ReserveResult } from '../../sale/reservations.js';

/** Refusals decided in the gateway before storage is asked. */
export type AdmissionOutcome = 'RATE_LIMITED' | 'ADMISSION_CLOSED';

export type StrategyResult = ReserveResult | { outcome: AdmissionOutcome; orderId: null; remaining: null };

/**
 * How a server answers one valid buy request. `seckill` is the product; the
 * others exist so `seckill bench` can put it side by side with what a shop
 * without Redis does, and with the HTTP path's own ceiling, in one run.
 */
export interface ReserveStrategy {
  readonly name: StrategyName;
  reserve(request: BuyRequest, now: number): Promise<StrategyResult>;
  /** the dependency whose failure this strategy reports as 503 */
  readonly dependency: 'redis' | 'mysql' | 'none';
}

export const STRATEGY_NAMES = ['seckill', 'mysql-update', 'mysql-for-update', 'ceiling'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export const ADMISSION_REFUSED = {
  RATE_LIMITED: { outcome: 'RATE_LIMITED', orderId: null, remaining: null },
  ADMISSION_CLOSED: { outcome: 'ADMISSION_CLOSED', orderId: null, remaining: null },
} as const satisfies Record<AdmissionOutcome, StrategyResult>;
