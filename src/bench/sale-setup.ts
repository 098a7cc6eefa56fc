/**
 * The sale a bench run judges: put on sale afresh before the run, its
 * scheduled windows set as the load starts, removed once it was judged.
 */
import { removeSkuFromRedis, setSaleWindow } from '../sale/catalog.js';
import { putOnSale } from '../sale/put-on-sale.js';
import { deleteSkuRecord, inventoryRecord, setInventoryWindow } from '../store/inventory.js';
import type { BenchContext } from './strategy-run.js';
import type { Scenario } from './scenario.js';

/** A scheduled SKU is put on sale closed until the load starts and schedules its opening. */
const NOT_YET_MS = 3_600_000;

/** Puts the scenario's SKUs on sale afresh: orders, reservations, outbox and counters gone. */
export const resetSale = async (ctx: BenchContext, scenario: Scenario): Promise<void> => {
  const defs = scenario.skus.map(({ weight: _weight, opensAfterMs, endsAfterMs: _endsAfter, ...def }) =>
    opensAfterMs === null ? def : { ...def, startsAt: Date.now() + NOT_YET_MS },
  );
  await putOnSale(ctx.redis, inventoryRecord(ctx.mysql), defs, { reset: true });
};

/**
 * Sets each scheduled SKU's window from now, in both stores: it opens
 * `opensAfter` and ends `endsAfter` from now. Returns the first opening
 * (ms since epoch), if any.
 */
export const scheduleOpenings = async (ctx: BenchContext, scenario: Scenario): Promise<number | undefined> => {
  const now = Date.now();
  let first: number | undefined;
  for (const { sku, opensAfterMs, endsAfterMs, startsAt, endsAt } of scenario.skus) {
    if (opensAfterMs === null && endsAfterMs === null) continue;
    const opensAt = opensAfterMs === null ? startsAt : now + opensAfterMs;
    const closesAt = endsAfterMs === null ? endsAt : now + endsAfterMs;
    await setInventoryWindow(ctx.mysql, sku, opensAt, closesAt);
    await setSaleWindow(ctx.redis, sku, opensAt, closesAt);
    if (opensAfterMs !== null) first = Math.min(first ?? now + opensAfterMs, now + opensAfterMs);
  }
  return first;
};

/**
 * The run's sale is gone once it has been judged: its PENDING orders would
 * otherwise be cancelled by any later consumer's sweeper on this Redis and
 * MySQL, and reconcile would report it for ever.
 */
export const removeSales = async (ctx: BenchContext, scenario: Scenario): Promise<void> => {
  for (const { sku } of scenario.skus) {
    await deleteSkuRecord(ctx.mysql, sku);
    await removeSkuFromRedis(ctx.redis, sku);
  }
};
