import { setTimeout as sleep } from 'node:timers/promises';
import { freezeSku, rebuildSkuInRedis, stockOf, thawSku } from '../sale/catalog.js';
import type { Reservations } from '../sale/reservations.js';
import { driftOf, isInFlight, isLive } from '../sale/state.js';
import { getInventory } from '../store/inventory.js';
import { readSkuRecord } from '../store/orders.js';
import { returnToSale } from '../payment/return-to-sale.js';
import { isStale, readDriftInput, type DriftInput, type DriftSource } from './drift.js';

/**
 * The repairs reconcile can prove safe from what it read, one SKU at a time.
 * None of them creates stock: they return units MySQL already took back,
 * mark what MySQL already holds, hand the pipeline an order again (applied
 * once by its id), or let a user buy again. What they cannot explain (drift
 * with orders unknown to Redis, as after a Redis restart without
 * persistence) is repaired by resetFromMysql, below.
 */
export interface FixPlan {
  /** in MySQL, still counted in flight in Redis: mark persisted */
  markPersisted: string[];
  /** cancelled in MySQL (units back there), not released in Redis: release.lua with the order's reason */
  release: { orderId: string; qty: number; reason: string }[];
  /** stuck past the grace period with no order and no outbox entry: put its event in the outbox again */
  redrive: string[];
  /** holdings that lock a user out: clear them if they still name that order */
  clearHoldings: { userId: string; orderId: string }[];
  /** releases left out because they would put more units on sale in Redis than MySQL has */
  refused: string[];
}

export interface FixReport extends FixPlan {
  sku: string;
  /** transfers between a bucketed SKU's buckets that were under way or cut off by a crash, finished (sale/transfers.ts) */
  transfersFinished: number;
  /** when the other fixes left drift: the reset from MySQL, done or why not */
  reset?: ResetOutcome;
}

export const planFixes = ({ state, inRedis, inMysql, closed, holdings }: DriftInput, queued: Set<string>, now: number, graceMs: number): FixPlan => {
  const plan: FixPlan = { markPersisted: [], release: [], redrive: [], clearHoldings: [], refused: [] };
  // A closed sale sells nothing and keeps no reservations: there is nothing to repair, only to report.
  if (!inRedis || !inMysql || closed) return plan;
  const orders = new Map(state.orders.map((o) => [o.orderId, o]));
  const reservations = new Map(state.reservations.map((r) => [r.orderId, r]));

  for (const r of state.reservations) {
    if (!isInFlight(r) || !isStale(r, now, graceMs)) continue;
    const order = orders.get(r.orderId);
    // A cancelled order (a refusal recorded by the consumer) is released below, not marked.
    if (order !== undefined && !isLive(order)) continue;
    if (order) plan.markPersisted.push(r.orderId);
    else if (!queued.has(r.orderId)) plan.redrive.push(r.orderId);
  }

  // Units that would be on sale in Redis after the fixes may not exceed what MySQL has.
  // (MySQL stock − what Redis has on sale or in flight: the drift, negated.)
  let headroom = -driftOf({ ...state, redisStock: state.redisStock ?? 0 })!;
  for (const o of state.orders) {
    const r = reservations.get(o.orderId);
    if (isLive(o) || r?.released !== false) continue;
    // Releasing a reservation still in flight (a refusal the consumer recorded) moves its units
    // from in flight to Redis stock: the sum does not change. A persisted one adds them.
    const adds = r.persisted ? o.qty : 0;
    if (adds <= headroom) {
      headroom -= adds;
      plan.release.push({ orderId: o.orderId, qty: o.qty, reason: o.reason ?? 'CANCELLED' });
    } else plan.refused.push(o.orderId);
  }

  const releasing = new Set(plan.release.map((r) => r.orderId));
  for (const { userId, orderId } of holdings) {
    const r = reservations.get(orderId);
    const order = orders.get(orderId);
    const liveInMysql = order !== undefined && isLive(order);
    // release.lua clears the holding itself; a live MySQL order keeps it.
    if (releasing.has(orderId) || liveInMysql) continue;
    if (r === undefined || r.released) plan.clearHoldings.push({ userId, orderId });
  }
  return plan;
};

/** Carries out a plan. Every step is idempotent: a second run finds nothing left to do. */
export const applyFixes = async ({ mysql }: DriftSource, reservations: Reservations, sku: string, plan: FixPlan): Promise<void> => {
  await reservations.markPersisted(sku, plan.markPersisted);
  await returnToSale(
    mysql,
    reservations,
    plan.release.map((r) => ({ ...r, sku })),
  );
  for (const orderId of plan.redrive) await reservations.redrive(sku, orderId);
  for (const h of plan.clearHoldings) await reservations.clearHolding(sku, h.userId, h.orderId);
};

export const planIsEmpty = (plan: FixPlan): boolean => plan.markPersisted.length + plan.release.length + plan.redrive.length + plan.clearHoldings.length === 0;

export interface ResetOutcome {
  reset: boolean;
  /** why not, when not */
  reason?: string;
  /** Redis stock before and after */
  from?: number | null;
  to?: number;
}

/**
 * Resets a SKU's Redis state from MySQL (see rebuildSkuInRedis): the repair
 * for drift the other fixes cannot explain, and for a Redis that restarted
 * without persistence. The SKU is frozen first (buyers get 503 SALE_FROZEN
 * and retry), then reconcile waits until nothing is in flight — every
 * reservation persisted or released, and the queue drained (`queueLag`,
 * from the transport) — because only then is the MySQL stock
 * exactly what is left to sell. If that does not happen within `timeoutMs`,
 * nothing is reset and the SKU is thawed as it was.
 */
export const resetFromMysql = async ({ redis, mysql }: DriftSource, sku: string, queueLag: () => Promise<number>, timeoutMs: number): Promise<ResetOutcome> => {
  const row = await getInventory(mysql, sku);
  if (row === null) return { reset: false, reason: 'no inventory row in MySQL: nothing to reset from' };
  await freezeSku(redis, sku);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // An outbox entry whose order is persisted is no longer in flight (delivering it again changes nothing).
      const [input, lag] = await Promise.all([readDriftInput({ redis, mysql }, sku), queueLag()]);
      const unsettled = input?.state.reservations.filter(isInFlight).length ?? 0;
      if (unsettled === 0 && lag === 0) break;
      if (Date.now() > deadline)
        return { reset: false, reason: `still in flight after ${timeoutMs} ms (${unsettled} reservation(s) neither persisted nor released, queue lag ${lag})` };
      await sleep(100);
    }
    // Read after the wait: nothing can change MySQL's stock or orders of this SKU now.
    const [{ inventory: fresh, orders }, before] = await Promise.all([readSkuRecord(mysql, sku), stockOf(redis, sku)]);
    await rebuildSkuInRedis(
      redis,
      {
        sku,
        stock: fresh!.stock,
        initialStock: fresh!.initialStock,
        limit: fresh!.limit,
        startsAt: fresh!.startsAt,
        endsAt: fresh!.endsAt,
        buckets: fresh!.buckets,
      },
      orders.map((o) => ({
        orderId: o.orderId,
        userId: o.userId,
        qty: o.qty,
        requestId: o.requestId,
        createdAt: o.createdAt,
        cancelled: !isLive(o) ? { at: o.cancelledAt ?? Date.now(), reason: o.reason ?? 'CANCELLED' } : null,
      })),
    );
    return { reset: true, from: before, to: fresh!.stock };
  } finally {
    await thawSku(redis, sku);
  }
};
