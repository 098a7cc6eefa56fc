/**
 * The row a lab run ends with: what every buyer was told, checked against
 * what MySQL holds once the pipeline drained. Pure, so it is tested on
 * histories made by hand.
 */
import type { Told } from './crowd.js';

export interface OrderRow {
  orderId: string;
  requestId: string;
  userId: string;
  qty: number;
  status: string;
}

export interface LabVerdict {
  buyers: number;
  /** buyers told an order id (201, or a DUPLICATE / LIMIT naming theirs) */
  toldAnOrder: number;
  /** buyers never answered, having retried until they gave up */
  gaveUp: number;
  /** told an order that MySQL does not hold (live) */
  toldNotInMysql: string[];
  /** live orders in MySQL no buyer was told */
  inMysqlNotTold: string[];
  /** what the buyers of those orders were told instead, by outcome (GAVE_UP, SOLD_OUT, …; NO_BUYER when no buyer sent its request id) */
  untoldBuyersWereTold: Record<string, number>;
  /** live units in MySQL beyond the stock */
  oversold: number;
  /** buyers told SOLD_OUT while MySQL ends with units unsold */
  refusedWithStockLeft: number;
  /**
   * The longest stretch without a buyer told an order (a 201, or a retry's
   * DUPLICATE naming it) from the strike on, in seconds: how long the fault
   * kept the sale from selling. Counted until the last such answer; null
   * when none came after the strike.
   */
  secondsToSellAgain: number | null;
}

export const judgeLabSale = (told: Told[], orders: OrderRow[], stock: number, struckAt: number): LabVerdict => {
  const live = orders.filter((o) => o.status !== 'CANCELLED');
  const inMysql = new Set(live.map((o) => o.orderId));
  const namedOrders = told.filter((t) => t.orderId !== null);
  const toldIds = new Set(namedOrders.map((t) => t.orderId));
  const liveUnits = live.reduce((units, o) => units + o.qty, 0);
  const untold = live.filter((o) => !toldIds.has(o.orderId));
  const outcomeOf = new Map(told.map((t) => [t.requestId, t.outcome]));
  const untoldBuyersWereTold: Record<string, number> = {};
  for (const o of untold) {
    const outcome = outcomeOf.get(o.requestId) ?? 'NO_BUYER';
    untoldBuyersWereTold[outcome] = (untoldBuyersWereTold[outcome] ?? 0) + 1;
  }
  // Any answer naming the buyer's order counts: with replica acks a buy made during a partition is answered (DUPLICATE, its order) only once it heals.
  const sold = namedOrders
    .filter((t) => t.at >= struckAt)
    .map((t) => t.at)
    .sort((a, b) => a - b);
  const longestPause = sold.reduce((longest, at, i) => Math.max(longest, at - (i === 0 ? struckAt : sold[i - 1])), 0);
  return {
    buyers: told.length,
    toldAnOrder: namedOrders.length,
    gaveUp: told.filter((t) => t.outcome === 'GAVE_UP').length,
    toldNotInMysql: namedOrders.filter((t) => !inMysql.has(t.orderId!)).map((t) => t.orderId!),
    inMysqlNotTold: untold.map((o) => o.orderId),
    untoldBuyersWereTold,
    oversold: Math.max(0, liveUnits - stock),
    refusedWithStockLeft: liveUnits < stock ? told.filter((t) => t.outcome === 'SOLD_OUT').length : 0,
    secondsToSellAgain: sold.length === 0 ? null : longestPause / 1000,
  };
};
