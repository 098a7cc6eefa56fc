import type { Pool } from 'mysql2/promise';
import type { RedisClient } from '../redis/connection.js';
import { skusOnSale } from '../sale/catalog.js';
import type { Reservations } from '../sale/reservations.js';
import { cancelExpiredOrders, ordersAwaitingRelease } from '../store/payments.js';
import { crashPoint } from '../crash-points.js';
import type { PipelineMetrics } from '../queue/metrics.js';
import { returnToSale } from './return-to-sale.js';

export const PAYMENT_TIMEOUT_REASON = 'PAYMENT_TIMEOUT';

export interface SweeperDeps {
  mysql: Pool;
  redis: RedisClient;
  reservations: Reservations;
  metrics: PipelineMetrics;
  log: (line: string) => void;
}

/**
 * One pass of the payment-timeout sweeper, over the SKUs this sweeper's
 * Redis holds (a sweeper never cancels or releases a sale another Redis
 * serves, even when they share MySQL):
 * 1. cancel PENDING orders past their deadline, returning their units to
 *    MySQL stock and their users' allowance (a conditional UPDATE: of several
 *    sweepers, one wins each);
 * 2. put every cancelled order's units back on sale in Redis and only then
 *    mark it done (returnToSale). Step 2 also picks up orders a sweeper
 *    cancelled before it died, and orders the consumer refused, so each
 *    unit returns exactly once to each store.
 */
export const sweepOnce = async ({ mysql, redis, reservations, metrics }: SweeperDeps, batchSize = 500): Promise<number> => {
  const skus = await skusOnSale(redis);
  const cancelled = await cancelExpiredOrders(mysql, skus, PAYMENT_TIMEOUT_REASON, batchSize);
  crashPoint('sweeper:after-cancel');
  const awaiting = await ordersAwaitingRelease(mysql, skus, batchSize);
  const outcomes = await returnToSale(mysql, reservations, awaiting);
  outcomes.forEach((outcome, i) => metrics.releases.labels(awaiting[i].reason === PAYMENT_TIMEOUT_REASON ? 'payment-timeout' : 'sweeper', outcome).inc());
  return cancelled.length;
};

/** Runs sweepOnce every `intervalMs` until stopped; a failed pass is logged and tried again. */
export const startSweeper = (deps: SweeperDeps, intervalMs: number) => {
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const tick = () => {
    pass = sweepOnce(deps)
      .then(
        (n) => void (n > 0 && deps.log(`payment timeout: cancelled ${n} order(s), stock returned`)),
        (error: Error) => {
          deps.metrics.retries.labels('sweeper').inc();
          deps.log(`payment-timeout sweep failed, will retry: ${error.message}`);
        },
      )
      .finally(() => {
        if (running) timer = setTimeout(tick, intervalMs);
      });
  };
  tick();
  return {
    stop: async () => {
      running = false;
      clearTimeout(timer);
      await pass;
    },
  };
};
