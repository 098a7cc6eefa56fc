import type { Pool } from 'mysql2/promise';
import { eventTexts, parseOrderEvent, type OrderEvent } from '../sale/order-event.js';
import { eachConcurrently } from '../each-concurrently.js';
import type { Reservations } from '../sale/reservations.js';
import { applyOrderBatch } from '../store/order-batch.js';
import { crashPoint } from '../crash-points.js';
import { groupBy } from '../group-by.js';
import { deadLetterOf, type DeadLetter } from './dead-letter.js';
import type { PipelineMetrics } from './metrics.js';
import { retryUntilDone } from './retry.js';
import { GROUPS, TOPICS } from './names.js';
import type { ReceivedBatch, Subscription, Transport } from './transport.js';

export interface OrderConsumerDeps {
  transport: Transport;
  mysql: Pool;
  reservations: Reservations;
  metrics: PipelineMetrics;
  payTimeoutMs: number;
  log: (line: string) => void;
  /** orders per MySQL transaction, and transactions of one delivered batch at once */
  transactions: { size: number; concurrency: number };
}

/**
 * Turns a delivered batch of messages (each one or more order events, one
 * per line) into orders of record. The events go to MySQL in transactions of
 * `transactions.size`, up to `transactions.concurrency` at once (one's MySQL
 * work overlaps another's Redis and queue work); the transport acknowledges
 * the batch once every one is done. Each transaction's events:
 * 1. lines that are not valid order events become dead letters;
 * 2. the rest go to MySQL in one transaction (idempotent by order id), retried
 *    with backoff while MySQL is down: nothing is acknowledged meanwhile;
 * 3. what MySQL refused becomes dead letters (compensation releases them);
 *    the refusal is already recorded as a CANCELLED order, so a redelivery
 *    after a crash finds it and changes nothing;
 * 4. the reservations of orders now live in MySQL are marked persisted in Redis.
 * A crash anywhere redelivers the batch, and every step is idempotent, so it
 * changes nothing twice.
 */
export const handleOrderBatch =
  (deps: OrderConsumerDeps) =>
  async (batch: ReceivedBatch): Promise<void> => {
    const { size, concurrency } = deps.transactions;
    const texts = batch.values.flatMap(eventTexts);
    const pieces: string[][] = [];
    for (let i = 0; i < texts.length; i += size) pieces.push(texts.slice(i, i + size));
    await eachConcurrently(pieces, concurrency, (piece) => applyEvents(deps, batch, piece));
  };

/** One transaction's events, through the four steps above. */
const applyEvents = async (deps: OrderConsumerDeps, batch: ReceivedBatch, texts: string[]): Promise<void> => {
  const { transport, mysql, reservations, metrics, payTimeoutMs, log } = deps;
  const letters: DeadLetter[] = [];
  const events: OrderEvent[] = [];
  for (const raw of texts) {
    const parsed = parseOrderEvent(raw);
    if (parsed.ok) events.push(parsed.event);
    else letters.push(deadLetterOf(parsed.reason, null, raw));
  }

  const outcome = await retryUntilDone(
    batch,
    () => applyOrderBatch(mysql, events, payTimeoutMs),
    (error, attempt) => {
      metrics.retries.labels('mysql').inc();
      log(`order batch of ${events.length} not applied (attempt ${attempt}), will retry: ${(error as Error).message}`);
    },
  );
  crashPoint('consumer:after-commit');
  for (const r of outcome.rejected) letters.push(deadLetterOf(r.reason, r.event, null));

  const sendLetters = async () => {
    if (letters.length === 0) return;
    await retryUntilDone(
      batch,
      () =>
        transport.publish(
          TOPICS.deadLetters,
          letters.map((l) => ({ key: l.event?.sku ?? '', value: JSON.stringify(l) })),
        ),
      (error) => {
        metrics.retries.labels('dead-letter').inc();
        log(`dead letters not sent, will retry: ${(error as Error).message}`);
      },
    );
    for (const l of letters) metrics.deadLetters.labels(l.reason).inc();
    crashPoint('consumer:after-dead-letter');
  };
  const markPersisted = () => {
    const bySku = groupBy([...outcome.applied, ...outcome.duplicates], (e) => e.sku);
    return retryUntilDone(
      batch,
      () =>
        Promise.all(
          [...bySku].map(([sku, events]) =>
            reservations.markPersisted(
              sku,
              events.map((e) => e.orderId),
            ),
          ),
        ),
      (error) => {
        metrics.retries.labels('redis').inc();
        log(`reservations not marked persisted, will retry: ${(error as Error).message}`);
      },
    );
  };
  // Independent, and both idempotent: done side by side.
  await Promise.all([sendLetters(), markPersisted()]);

  metrics.batchSize.observe(texts.length);
  metrics.persisted.inc(outcome.applied.length);
  metrics.duplicates.inc(outcome.duplicates.length);
};

export const startOrderConsumer = (deps: OrderConsumerDeps): Promise<Subscription> =>
  deps.transport.subscribe(TOPICS.orders, GROUPS.orders, handleOrderBatch(deps));
