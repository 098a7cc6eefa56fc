import type { RedisClient } from '../redis/connection.js';
import { followStockEvents } from '../sale/stock-events.js';
import type { AdmissionCap } from './admission-cap.js';
import type { SaleLayouts } from './sale-layouts.js';
import type { SoldOutSales } from './sold-out.js';

/**
 * Keeps the local flags in step with every other server process (see
 * src/sale/stock-events.ts). Resolves once subscribed.
 */
export const keepInStep = (subscriber: RedisClient, soldOut: SoldOutSales, tickets: AdmissionCap, layouts: SaleLayouts): Promise<void> =>
  followStockEvents(
    subscriber,
    ({ kind, sku }) => {
      if (kind === 'SOLD_OUT') soldOut.set(sku, Date.now(), 'sold');
      else {
        soldOut.clear(sku);
        tickets.reopen(sku);
        layouts.forget(sku);
      }
    },
    // Messages sent while the subscriber was disconnected are lost: forget every flag rather than trust a stale one.
    () => soldOut.clearAll(),
  );
