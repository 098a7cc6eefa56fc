import type { QueueConfig } from '../config.js';
import { openQueue } from '../queue/open-transport.js';
import { CLIENT_IDS, GROUPS, TOPICS } from '../queue/names.js';
import { Reservations } from '../sale/reservations.js';
import { StockTransfers } from '../sale/transfers.js';
import { readDriftInput, reconcileSku, type DriftSource, type FindingKind } from './drift.js';
import { applyFixes, planFixes, planIsEmpty, resetFromMysql, type FixReport, type ResetOutcome } from './fix.js';

/** What only a reset from MySQL repairs. */
const NEEDS_RESET = new Set<FindingKind>(['DRIFT', 'SKU_NOT_IN_REDIS', 'ORDER_UNKNOWN_TO_REDIS']);

export interface RepairOptions {
  graceMs: number;
  freezeTimeoutMs: number;
  /** the pipeline's queue: a reset waits until it is drained */
  queue: QueueConfig;
}

/** Messages waiting for the order consumer or compensation: a reset waits for 0. */
const openQueueLag = async (source: DriftSource, config: QueueConfig) => {
  const queue = await openQueue(config, source.redis, { batchSize: 1, claimAfterMs: 30_000, concurrency: 1, lingerMs: 0 }, CLIENT_IDS.reconcile);
  // With the Redis queue, the SKU's outbox is its orders queue, and its unsettled reservations
  // (resetFromMysql checks them) say what is in it; with Kafka, the orders topic holds every
  // SKU's messages and must be drained.
  const ordersLag = () => (config.queue === 'kafka' ? queue.lag(TOPICS.orders, GROUPS.orders) : Promise.resolve(0));
  return {
    lag: async () => (await ordersLag()) + (await queue.lag(TOPICS.deadLetters, GROUPS.compensation)),
    close: () => queue.close(),
  };
};

/**
 * `reconcile --fix`: per SKU, first the transfers between buckets left
 * half-done (finishing one moves units, never makes any); then the repairs
 * reconcile can prove safe from what it read; then, for drift they do not explain, the reset from MySQL
 * (frozen, and only once nothing is in flight). Returns what was done.
 */
export const repairSkus = async (source: DriftSource, skus: string[], options: RepairOptions): Promise<FixReport[]> => {
  const reservations = new Reservations(source.redis);
  const transfers = new StockTransfers(source.redis);
  const fixed: FixReport[] = [];
  let queue: Awaited<ReturnType<typeof openQueueLag>> | null = null;
  try {
    for (const sku of skus) {
      const transfersFinished = await transfers.finishAll(sku);
      const input = await readDriftInput(source, sku);
      if (input === null) continue;
      const plan = planFixes(input, await reservations.queued(sku), Date.now(), options.graceMs);
      await applyFixes(source, reservations, sku, plan);
      const left = await reconcileSku(source, sku, options.graceMs);
      let reset: ResetOutcome | undefined;
      if (!input.closed && left?.mysqlStock !== null && left?.findings.some((f) => NEEDS_RESET.has(f.kind))) {
        queue ??= await openQueueLag(source, options.queue);
        reset = await resetFromMysql(source, sku, queue.lag, options.freezeTimeoutMs);
      }
      if (!planIsEmpty(plan) || plan.refused.length > 0 || reset || transfersFinished > 0)
        fixed.push({ sku, transfersFinished, ...plan, ...(reset && { reset }) });
    }
  } finally {
    await queue?.close();
  }
  return fixed;
};
