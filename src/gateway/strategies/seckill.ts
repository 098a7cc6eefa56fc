import type { Reservations } from '../../sale/reservations.js';
import type { AdmissionTickets, SoldOutFlags, TokenBucket } from '../admission.js';
import { ADMISSION_REFUSED, type ReserveStrategy, type StrategyResult } from './strategy.js';
import { Outcome } from '../../sale/outcomes.js';

const SOLD_OUT: StrategyResult = { outcome: Outcome.SOLD_OUT, orderId: null, remaining: 0 };
const NOT_LOADED: StrategyResult = { outcome: Outcome.NOT_LOADED, orderId: null, remaining: null };

/**
 * The product: in-process admission (local sold-out flag, token bucket,
 * admission cap), cheapest first, then one atomic reserve.lua call. Only an
 * admitted request reaches Redis, and it does so in one round trip.
 */
export const seckillStrategy = (deps: {
  reservations: Reservations;
  soldOut: SoldOutFlags;
  bucket: TokenBucket;
  tickets: AdmissionTickets;
}): ReserveStrategy => {
  const { reservations, soldOut, bucket, tickets } = deps;
  return {
    name: 'seckill',
    dependency: 'redis',
    reserve: async (request, now) => {
      if (soldOut.isSoldOut(request.sku, now)) return SOLD_OUT;
      if (!bucket.take()) return ADMISSION_REFUSED.RATE_LIMITED;
      const ticket = tickets.admit(request.sku, now);
      const admitted = typeof ticket === 'string' ? ticket : await ticket;
      if (admitted === 'CLOSED') return ADMISSION_REFUSED.ADMISSION_CLOSED;
      if (admitted === 'NOT_LOADED') return NOT_LOADED;
      if (admitted === 'SOLD_OUT') {
        soldOut.set(request.sku, now);
        return SOLD_OUT;
      }
      const result = await reservations.reserve(request, now);
      // Only "nothing left" sells out locally; two left while three were
      // asked for refuses this request, not the SKU.
      if (result.remaining === 0) soldOut.set(request.sku, now);
      return result;
    },
  };
};
