import type { Pool } from 'mysql2/promise';
import { Outcome, type ReleaseOutcome } from '../sale/outcomes.js';
import type { Reservations } from '../sale/reservations.js';
import { markReleasedToSale, RELEASE_STATE, type CancelledOrder } from '../store/payments.js';

/**
 * Puts cancelled orders' units back on sale in Redis (release.lua) and only
 * then records in MySQL that it was done (`released_to_sale`), so a process
 * that dies between the two steps leaves the order to be released again
 * (release.lua is idempotent), never marked and stranded. An order the Redis
 * does not know is marked UNKNOWN_TO_REDIS for reconcile; one whose SKU is
 * frozen is left for the next attempt. Returns each order's outcome.
 */
export const returnToSale = async (mysql: Pool, reservations: Reservations, orders: CancelledOrder[]): Promise<ReleaseOutcome[]> => {
  const done: string[] = [];
  const unknown: string[] = [];
  const outcomes: ReleaseOutcome[] = [];
  for (const order of orders) {
    const { outcome } = await reservations.release(order.sku, order.orderId, order.reason);
    outcomes.push(outcome);
    if (outcome === Outcome.RELEASED || outcome === Outcome.ALREADY_RELEASED) done.push(order.orderId);
    else if (outcome === Outcome.NOT_FOUND) unknown.push(order.orderId);
  }
  await markReleasedToSale(mysql, done);
  await markReleasedToSale(mysql, unknown, RELEASE_STATE.UNKNOWN_TO_REDIS);
  return outcomes;
};
