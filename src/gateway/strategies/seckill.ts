import type { BuyRequest, Reservations, ReserveResult } from '../../sale/reservations.js';
import { bucketOfUser } from '../../sale/buckets.js';
import type { StockTransfers } from '../../sale/transfers.js';
import type { AdmissionCap, TicketAnswer } from '../admission-cap.js';
import type { RateLimit } from '../rate-limit.js';
import type { SoldOutSales } from '../sold-out.js';
import { NO_SALE, type SaleLayouts } from '../sale-layouts.js';
import { ADMISSION_REFUSED, type ReserveStrategy, type StrategyResult } from './strategy.js';
import { Outcome } from '../../sale/outcomes.js';

const NOT_LOADED: StrategyResult = { outcome: Outcome.NOT_LOADED, orderId: null, remaining: null };
const NOT_STARTED: StrategyResult = { outcome: Outcome.NOT_STARTED, orderId: null, remaining: null };
const FROZEN: StrategyResult = { outcome: Outcome.FROZEN, orderId: null, remaining: null };

/** A buyer of a bucketed SKU whose bucket is short is refilled and tries again at most this often before "try again shortly". */
const BUCKET_ATTEMPTS = 4;

/**
 * The product: in-process admission (the local sold-out answer, the fleet's
 * token bucket, admission cap), cheapest first, then one atomic reserve.lua
 * call. Only an admitted request reaches Redis, in one round trip (plus, now
 * and then, a lease of tokens or tickets shared by the requests of a moment).
 *
 * A bucketed SKU (buckets.ts) is bought from the buyer's bucket; when it is
 * short, the buyer waits for units to be moved in from the others and tries
 * again (transfers.ts), and is told SOLD_OUT only when every bucket is
 * proven empty — never because one bucket ran dry.
 */
export const seckillStrategy = (deps: {
  reservations: Reservations;
  soldOut: SoldOutSales;
  rateLimit: RateLimit;
  tickets: AdmissionCap;
  layouts: SaleLayouts;
  transfers: StockTransfers;
  /** a background top-up of a bucket running low failed */
  onTopUpError: (error: unknown) => void;
}): ReserveStrategy => {
  const { reservations, soldOut, rateLimit, tickets, layouts, transfers, onTopUpError } = deps;

  /**
   * reserve.lua's answer from the local snapshot of a sold-out SKU, null when
   * units came back since; an order id it names is confirmed by replicas
   * (--replica-acks) like one reserve.lua names.
   */
  const fromSnapshot = async (request: BuyRequest): Promise<ReserveResult | null> => {
    const answer = await soldOut.answer(request);
    return answer === null ? null : reservations.confirmed(request.sku, answer);
  };

  /** A sold-out (unbucketed) SKU's buyer: reserve.lua's answer from the local snapshot, or from reserve.lua itself if units just came back. */
  const soldOutAnswer = async (request: BuyRequest, now: number): Promise<ReserveResult> => (await fromSnapshot(request)) ?? reservations.reserve(request, now);

  /** Admission, then reserve.lua in the buyer's bucket; null when the bucket (of several) has too few units. */
  const reserveIn = async (request: BuyRequest, now: number, home: number, buckets: number): Promise<StrategyResult | null> => {
    const admitting = tickets.admit(request.sku, home, buckets);
    const ticket: TicketAnswer = admitting instanceof Promise ? await admitting : admitting;
    switch (ticket.outcome) {
      case Outcome.ADMISSION_CLOSED:
        return ADMISSION_REFUSED.ADMISSION_CLOSED;
      case Outcome.NOT_LOADED:
        return NOT_LOADED;
      case Outcome.NOT_STARTED:
        return NOT_STARTED;
      case Outcome.SOLD_OUT:
        return buckets === 1 ? soldOutAnswer(request, now) : null;
      case Outcome.ENDED:
        // Without a ticket: a retry is still told its order, everyone else ENDED.
        return reservations.reserve(request, now, null, home);
      case Outcome.ADMITTED:
        break;
    }
    let result: ReserveResult;
    try {
      result = await reservations.reserve(request, now, ticket.lease, home);
    } catch (error) {
      tickets.giveBack(request.sku, home, ticket);
      throw error;
    }
    if (buckets > 1) return result.outcome === Outcome.SOLD_OUT ? null : result;
    // Only "nothing left" sells out locally; two left while three were
    // asked for refuses this request, not the SKU.
    if (result.remaining === 0) soldOut.set(request.sku, now, result.outcome === Outcome.OK ? 'sold' : 'confirmed');
    return result;
  };

  const reserveFromBuckets = async (request: BuyRequest, now: number, home: number, buckets: number, lowWater: number): Promise<StrategyResult> => {
    for (let attempt = 0; attempt < BUCKET_ATTEMPTS; attempt++) {
      const result = await reserveIn(request, now, home, buckets);
      if (result !== null) {
        if (result.outcome === Outcome.OK && result.remaining !== null && result.remaining <= lowWater) {
          transfers.topUp(request.sku, home, lowWater, buckets).catch(onTopUpError);
        }
        return result;
      }
      const refill = await transfers.refill(request.sku, home, request.qty, buckets);
      if (refill.outcome === 'NOT_LOADED') return NOT_LOADED;
      if (refill.outcome === 'FROZEN') return FROZEN;
      if (refill.outcome === 'BUSY') break;
      if (refill.outcome === 'SOLD_OUT') {
        if (refill.remaining > 0) return { outcome: Outcome.SOLD_OUT, orderId: null, remaining: refill.remaining };
        // 'confirmed', not 'sold': every buyer of the shared proof lands here, and
        // a snapshot read since is still good unless units were released.
        soldOut.set(request.sku, Date.now(), 'confirmed', refill.released);
        const answer = await fromSnapshot(request);
        if (answer !== null) return answer;
        // units came back since the proof: try again
      }
    }
    // Units kept moving for longer than one buyer waits: never SOLD_OUT while some may be left.
    return ADMISSION_REFUSED.ADMISSION_CLOSED;
  };

  return {
    name: 'seckill',
    dependency: 'redis',
    reserve: async (request, now) => {
      const looked = layouts.get(request.sku, now);
      const known = looked instanceof Promise ? await looked : looked;
      // A made-up SKU is refused before it costs a rate permit or a ticket.
      if (known === NO_SALE) return NOT_LOADED;
      const { buckets, lowWater } = known;
      const home = bucketOfUser(request.userId, buckets);
      if (soldOut.isSoldOut(request.sku, now)) {
        if (buckets === 1) return soldOutAnswer(request, now);
        // Not sold out after all (units came back): the buckets, where one running dry is not the SKU.
        const answer = await fromSnapshot(request);
        if (answer !== null) return answer;
      }
      const token = rateLimit.take();
      if (!(typeof token === 'boolean' ? token : await token)) return ADMISSION_REFUSED.RATE_LIMITED;
      if (buckets === 1) return (await reserveIn(request, now, 0, 1))!;
      return reserveFromBuckets(request, now, home, buckets, lowWater);
    },
  };
};
