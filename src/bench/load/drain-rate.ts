import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../../redis/connection.js';
import type { Pool } from 'mysql2/promise';
import { Reservations } from '../../sale/reservations.js';
import { removeSkuFromRedis } from '../../sale/catalog.js';
import { putOnSale } from '../../sale/put-on-sale.js';
import { writeBareOrders } from '../../store/baselines.js';
import { countOrders, deleteSkuRecord, inventoryRecord } from '../../store/inventory.js';
import { etaFromRate, etaText } from '../eta.js';
import type { BenchContext } from '../strategy-run.js';
import { startSeckillProcess, type SeckillProcess } from '../servers/processes.js';

export interface DrainRate {
  orders: number;
  /** orders/s the pipeline (relay + consumer, or the consumer alone with --queue redis) wrote to MySQL */
  pipelineRate: number;
  /** orders/s of a bare loop of batched INSERT + UPDATE transactions against the same MySQL */
  ceilingRate: number;
  ratio: number;
  batchSize: number;
}

/**
 * Fills one SKU's outbox with `orders` reservations, as a sale would, before
 * any consumer runs: grouped as a busy server groups them (one outbox entry
 * per reserve.lua call), or one call each as `--no-group-commit` makes them.
 */
const fillOutbox = async (redis: RedisClient, mysql: Pool, sku: string, orders: number, groupCommit: boolean): Promise<void> => {
  await putOnSale(redis, inventoryRecord(mysql), [{ sku, stock: orders, limit: 1, startsAt: null, endsAt: null }], { reset: true });
  const reservations = new Reservations(redis, groupCommit ? {} : { groupCommit: null });
  for (let i = 0; i < orders; i += 1_000) {
    await Promise.all(Array.from({ length: Math.min(1_000, orders - i) }, (_, j) => reservations.reserve({ sku, userId: `d${i + j}`, qty: 1 })));
  }
};

/**
 * The pipeline's drain rate: a backlog of reservations (as after a
 * sell-out) is written to MySQL by the real relay and consumer processes;
 * the rate is taken from the first order written to the last. Next to it, the
 * same MySQL doing nothing but batched INSERT + guarded UPDATE transactions
 * of the consumer's batch size: the ceiling of any consumer.
 */
export const measureDrainRate = async (ctx: BenchContext, orders: number, batchSize = 500): Promise<DrainRate> => {
  const sku = `drain-rate-${Date.now()}`;
  const ceilingSku = `${sku}-raw`;
  try {
    return await measure(ctx, sku, ceilingSku, orders, batchSize);
  } finally {
    // Nothing of the measurement is left for later processes to act on (its PENDING orders would be swept in 15 minutes).
    for (const s of [sku, ceilingSku]) {
      await deleteSkuRecord(ctx.mysql, s);
      await removeSkuFromRedis(ctx.redis, s);
    }
  }
};

const measure = async (ctx: BenchContext, sku: string, ceilingSku: string, orders: number, batchSize: number): Promise<DrainRate> => {
  ctx.progress(`drain rate: filling the outbox with ${orders.toLocaleString('en')} reservations`);
  await fillOutbox(ctx.redis, ctx.mysql, sku, orders, ctx.groupCommit !== false);

  const common = ['--queue', ctx.queue, '--topic-prefix', `${sku}.`, '--batch-size', String(batchSize)];
  const processes: SeckillProcess[] = [];
  let pipelineRate: number;
  try {
    if (ctx.queue === 'kafka') processes.push(await startSeckillProcess('relay', common, ctx.env));
    processes.push(await startSeckillProcess('consume', [...common, '--no-sweeper'], ctx.env));
    let first: { at: number; count: number } | null = null;
    const deadline = Date.now() + 300_000;
    const eta = etaFromRate();
    for (;;) {
      const count = await countOrders(ctx.mysql, sku);
      if (first === null && count > 0) first = { at: performance.now(), count };
      if (count >= orders) break;
      if (Date.now() > deadline) throw new Error(`drain rate: only ${count} of ${orders} orders written after 300 s`);
      ctx.progress(`drain rate: ${count.toLocaleString('en')} of ${orders.toLocaleString('en')} orders in MySQL, ${etaText(eta(count, orders))}`);
      await sleep(20);
    }
    pipelineRate = ((orders - first!.count) / (performance.now() - first!.at)) * 1000;
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
  }

  // MySQL alone: the bare loop never reads Redis.
  await inventoryRecord(ctx.mysql).replace({ sku: ceilingSku, stock: orders, limit: 1, startsAt: null, endsAt: null });
  ctx.progress('drain rate: the raw INSERT + UPDATE loop');
  const started = performance.now();
  await writeBareOrders(ctx.mysql, ceilingSku, orders, batchSize);
  const ceilingRate = (orders / (performance.now() - started)) * 1000;
  return { orders, pipelineRate, ceilingRate, ratio: pipelineRate / ceilingRate, batchSize };
};
