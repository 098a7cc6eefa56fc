import type { Reservations, ReserveResult } from '../../sale/reservations.js';
import type { AdmissionTickets, SoldOutSales, TokenBucket } from '../admission.js';
import { ADMISSION_REFUSED, type ReserveStrategy, type StrategyResult } from './strategy.js';
import { Outcome } from '../../sale/outcomes.js';

const NOT_LOADED: StrategyResult = { outcome: Outcome.NOT_LOADED, orderId: null, remaining: null };
const NOT_STARTED: StrategyResult = { outcome: Outcome.NOT_STARTED, orderId: null, remaining: null };

/**
 * The product: in-process admission (the local sold-out answer, the fleet's
 * token bucket, admission cap), cheapest first, then one atomic reserve.lua
 * call. Only an admitted request reaches Redis, in one round trip (plus, now
 * and then, a lease of tokens or tickets shared by the requests of a moment).
 */
export const seckillStrategy = (deps: {
  reservations: Reservations;
  soldOut: SoldOutSales;
  bucket: TokenBucket;
  tickets: AdmissionTickets;
}): ReserveStrategy => {
  const { reservations, soldOut, bucket, tickets } = deps;

  /** A sold-out SKU's buyer: reserve.lua's answer from the local snapshot, or from reserve.lua itself if units just came back. */
  const soldOutAnswer = async (request: Parameters<ReserveStrategy['reserve']>[0], now: number): Promise<ReserveResult> =>
    (await soldOut.answer(request)) ?? reservations.reserve(request, now);

  return {
    name: 'seckill',
    dependency: 'redis',
    reserve: async (request, now) => {
      if (soldOut.isSoldOut(request.sku, now)) return soldOutAnswer(request, now);
      const token = bucket.take();
      if (!(typeof token === 'boolean' ? token : await token)) return ADMISSION_REFUSED.RATE_LIMITED;
      const ticket = tickets.admit(request.sku, now);
      const admitted = typeof ticket === 'string' ? ticket : await ticket;
      if (admitted === 'CLOSED') return ADMISSION_REFUSED.ADMISSION_CLOSED;
      if (admitted === 'NOT_LOADED') return NOT_LOADED;
      if (admitted === 'NOT_STARTED') return NOT_STARTED;
      if (admitted === 'SOLD_OUT') return soldOutAnswer(request, now);
      let result: ReserveResult;
      try {
        result = await reservations.reserve(request, now, true);
      } catch (error) {
        tickets.giveBack(request.sku);
        throw error;
      }
      // Only "nothing left" sells out locally; two left while three were
      // asked for refuses this request, not the SKU.
      if (result.remaining === 0) soldOut.set(request.sku, now, result.outcome === Outcome.OK ? 'sold' : 'confirmed');
      return result;
    },
  };
};
