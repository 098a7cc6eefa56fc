import { setTimeout as sleep } from 'node:timers/promises';
import { pruneDeadLetterReaders } from '../queue/redis-streams.js';
import { closeSkuInRedis, freezeSku, readRedisSku, setSaleWindow, skuMemoryBytes, thawSku } from '../sale/catalog.js';
import { saleClock } from '../sale/sale-clock.js';
import { getInventory, setInventoryWindow } from '../store/inventory.js';
import { unsettledOrders } from '../store/orders.js';
import { reconcileSku, type DriftSource } from './drift.js';

/**
 * Giving a sale an end, so one Redis serves sale after sale: once a sale has
 * ended and everything it sold is settled — every reservation in MySQL or
 * released, no order awaiting payment, every cancelled
 * order's units back in Redis, no drift — its reservation records, request
 * ids, holdings, outbox and admission count are removed, and it leaves the
 * list relays and sweepers read. The stock and the meta stay (marked closed),
 * which is what reconcile compares with MySQL from then on.
 */

export interface CloseOptions {
  /** end a sale that has no end yet, or ends later, now */
  endNow: boolean;
  /** wait this long for the sale to settle before giving up (0: look once) */
  waitMs: number;
  /** stream members idle this long with nothing pending are pruned from the shared dead-letter stream */
  idleConsumerMs: number;
  progress?: (line: string) => void;
}

export interface CloseReport {
  sku: string;
  closed: boolean;
  /** already closed before this call */
  alreadyClosed: boolean;
  /** the sale was ended by this call (--end-now) */
  endedNow: boolean;
  /** why it was not closed (nothing was removed) */
  notYet: string[];
  /** units sold for good (initial − MySQL stock) */
  soldUnits: number;
  /** Redis bytes of the SKU's keys before and after */
  bytesBefore: number;
  bytesAfter: number;
  /** dead readers removed from the dead-letter stream's groups */
  prunedConsumers: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** What still keeps the sale from closing now; empty when it may close. */
const unsettled = async (source: DriftSource, sku: string, now: number): Promise<string[]> => {
  // Outbox entries left once every reservation is persisted or released are copies MySQL already has: they go with the outbox.
  const [cached, report, orders] = await Promise.all([readRedisSku(source.redis, sku), reconcileSku(source, sku, 0), unsettledOrders(source.mysql, sku)]);
  const reasons: string[] = [];
  if (cached.endsAt === null) reasons.push('the sale has no end: add --end-now to end it now');
  else if (now < cached.endsAt) reasons.push(`the sale ends at ${iso(cached.endsAt)}: add --end-now to end it now`);
  if ((report?.inFlight ?? 0) > 0) reasons.push(`${report!.inFlight} unit(s) reserved and not yet in MySQL`);
  if (orders.pending > 0) reasons.push(`${orders.pending} order(s) await payment, until ${iso(orders.lastDeadline!)} at the latest`);
  if (orders.awaitingRelease > 0) reasons.push(`${orders.awaitingRelease} cancelled order(s) whose units are not back in Redis yet`);
  const findings = (report?.findings ?? []).map((f) => `${f.kind} (${f.count})`);
  if (findings.length > 0) reasons.push(`reconcile finds ${findings.join(', ')}: run seckill reconcile --sku ${sku} (--fix) first`);
  return reasons;
};

export const closeSale = async (source: DriftSource, sku: string, options: CloseOptions): Promise<CloseReport> => {
  const [cached, row] = await Promise.all([readRedisSku(source.redis, sku), getInventory(source.mysql, sku)]);
  if (!cached.loaded) throw new Error(`SKU ${JSON.stringify(sku)} is not on sale in this Redis`);
  if (row === null) throw new Error(`SKU ${JSON.stringify(sku)} has no inventory row in MySQL: run seckill reconcile --sku ${sku}`);
  const bytesBefore = await skuMemoryBytes(source.redis, sku);
  const report = {
    sku,
    closed: false,
    alreadyClosed: false,
    endedNow: false,
    notYet: [] as string[],
    soldUnits: row.initialStock - row.stock,
    bytesBefore,
    bytesAfter: bytesBefore,
    prunedConsumers: 0,
  };
  if (cached.closedAt !== null) return { ...report, closed: true, alreadyClosed: true };

  // The sale's clock (Redis's), not this machine's: a sale ends when reserve.lua says so.
  const clock = () => saleClock(source.redis, sku);
  const now = await clock();
  if (options.endNow && (cached.endsAt === null || cached.endsAt > now)) {
    // MySQL first, as preload writes it: the record says so before the sale does.
    await setInventoryWindow(source.mysql, sku, row.startsAt, now);
    await setSaleWindow(source.redis, sku, cached.startsAt, now);
    report.endedNow = true;
  }
  const deadline = Date.now() + options.waitMs;
  const settled = async (): Promise<string[]> => {
    const reasons = await unsettled(source, sku, await clock());
    if (reasons.length > 0) return reasons;
    // Frozen, then looked at once more: nothing can be reserved between the
    // last look and the removal (a bucket on a master whose clock is behind
    // would still sell), and what was under way shows up in that look.
    await freezeSku(source.redis, sku);
    const after = await unsettled(source, sku, await clock());
    if (after.length > 0) await thawSku(source.redis, sku);
    return after;
  };
  let reasons = await settled();
  while (reasons.length > 0 && Date.now() < deadline) {
    options.progress?.(`close ${sku}: waiting — ${reasons.join('; ')}`);
    await sleep(Math.min(1_000, deadline - Date.now()));
    reasons = await settled();
  }
  if (reasons.length > 0) return { ...report, notYet: reasons };

  await closeSkuInRedis(source.redis, sku, await clock());
  const after = await getInventory(source.mysql, sku);
  return {
    ...report,
    closed: true,
    soldUnits: after!.initialStock - after!.stock,
    bytesAfter: await skuMemoryBytes(source.redis, sku),
    prunedConsumers: await pruneDeadLetterReaders(source.redis, options.idleConsumerMs),
  };
};
