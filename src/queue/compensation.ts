import type { Pool } from 'mysql2/promise';
import { Outcome } from '../sale/outcomes.js';
import { isLive } from '../sale/state.js';
import type { Reservations } from '../sale/reservations.js';
import { refusalReason } from '../store/order-batch.js';
import { findOrder } from '../store/orders.js';
import { parseDeadLetter } from './dead-letter.js';
import type { PipelineMetrics } from './metrics.js';
import { retryUntilDone } from './retry.js';
import { returnToSale } from '../payment/return-to-sale.js';
import { GROUPS, TOPICS } from './names.js';
import type { ReceivedBatch, Subscription, Transport } from './transport.js';

export interface CompensationDeps {
  transport: Transport;
  mysql: Pool;
  reservations: Reservations;
  metrics: PipelineMetrics;
  log: (line: string) => void;
}

/**
 * Compensation: for each dead-lettered order, return its stock to sale
 * (release.lua: stock back, holding cleared, the reservation shown cancelled
 * with the reason) and mark its CANCELLED row released. Never for an order
 * that is live in MySQL: a message that reused a live order's id must not
 * release that order's unit. release.lua is idempotent, so a redelivered
 * dead letter changes nothing; a SKU frozen by reconcile is waited for.
 * (The payment sweeper also releases refused orders it finds unreleased,
 * so a dead letter lost before it got here strands nothing.)
 */
export const handleDeadLetters =
  (deps: CompensationDeps) =>
  async (batch: ReceivedBatch): Promise<void> => {
    const { mysql, reservations, metrics, log } = deps;
    for (const raw of batch.values) {
      const letter = parseDeadLetter(raw);
      const event = letter?.event;
      if (!letter || !event) {
        // Not an order (poison): there is no stock to return. Counted, kept in the DLQ.
        metrics.releases.labels('dead-letter', 'NOTHING_TO_RELEASE').inc();
        continue;
      }
      const outcome = await retryUntilDone(
        batch,
        async () => {
          const order = await findOrder(mysql, event.orderId);
          if (order !== null && isLive(order)) return 'ORDER_IS_LIVE';
          const [outcome] = await returnToSale(mysql, reservations, [
            { orderId: event.orderId, sku: event.sku, qty: event.qty, reason: refusalReason(letter.reason) },
          ]);
          if (outcome === Outcome.FROZEN) throw new Error(`${event.sku} is frozen by reconcile`);
          return outcome;
        },
        (error) => {
          metrics.retries.labels('compensation').inc();
          log(`compensation for ${event.orderId} failed, will retry: ${(error as Error).message}`);
        },
      );
      metrics.releases.labels('dead-letter', outcome).inc();
    }
  };

export const startCompensation = (deps: CompensationDeps): Promise<Subscription> =>
  deps.transport.subscribe(TOPICS.deadLetters, GROUPS.compensation, handleDeadLetters(deps));
