import type { Pool } from 'mysql2/promise';
import type { Reservations } from '../sale/reservations.js';
import { cancelExpiredOrders, markReleasedToSale, ordersAwaitingRelease } from '../store/payments.js';
import type { PipelineMetrics } from './metrics.js';

export const PAYMENT_TIMEOUT_REASON = 'PAYMENT_TIMEOUT';

export interface SweeperDeps {
  mysql: Pool;
  reservations: Reservations;
  metrics: PipelineMetrics;
  log: (line: string) => void;
}

/**
 * One pass of the payment-timeout sweeper:
 * 1. cancel PENDING orders past their deadline, returning their units to
 *    MySQL stock (a conditional UPDATE: of several sweepers, one wins each);
 * 2. put every cancelled order's unit back on sale in Redis (release.lua,
 *    idempotent) and note that it was done. Step 2 also picks up orders a
 *    sweeper cancelled before it died, so each unit returns exactly once.
 */
export const sweepOnce = async ({ mysql, reservations, metrics }: SweeperDeps, batchSize = 500): Promise<number> => {
  const cancelled = await cancelExpiredOrders(mysql, PAYMENT_TIMEOUT_REASON, batchSize);
  const awaiting = await ordersAwaitingRelease(mysql, batchSize);
  const done: string[] = [];
  for (const order of awaiting) {
    const { outcome } = await reservations.release(order.sku, order.orderId, PAYMENT_TIMEOUT_REASON);
    metrics.releases.labels('payment-timeout', outcome).inc();
    done.push(order.orderId);
  }
  await markReleasedToSale(mysql, done);
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
