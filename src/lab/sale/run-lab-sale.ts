/**
 * One row of the lab campaign on a sale at size: a crowd that retries, one
 * fault struck mid-sale and healed, the pipeline drained, `reconcile --fix`,
 * and the verdict of what buyers were told against what MySQL holds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../ip.js';
import type { ReconcileReport } from '../../reconcile/report.js';
import type { CrowdPlan, CrowdResult } from './crowd.js';
import { labFault } from './lab-faults.js';
import { labScript, SALE_HOSTS, type LabSale } from './lab-sale.js';
import { judgeLabSale, type LabVerdict, type OrderRow } from './verdict.js';

export interface LabRowOptions {
  fault: string;
  /** the row's own SKU, preloaded by the row: rows on one sale never share state */
  sku: string;
  stock: number;
  /** one buy each, arriving evenly over arrivalMs */
  buyers: number;
  arrivalMs: number;
  /** when the fault strikes, after the crowd started (4 s when absent) */
  strikeAtMs?: number;
  /** how long it lasts before it is healed (8 s when absent) */
  healAfterMs?: number;
  onProgress?: (line: string) => void;
}

export interface LabRow extends LabVerdict {
  fault: string;
  strikeAtMs: number;
  healAfterMs: number;
  replicaAcks: number;
  stock: number;
  /** Σ |drift| over the SKU after `reconcile --fix`; 0 when Redis and MySQL agree */
  driftAfterFix: number;
  /** what reconcile --fix repaired, as it says it */
  fixed: unknown;
  /** sends the crowd had to repeat, by why */
  retried: Record<string, number>;
}

export const LAB_FAULT_TIMES = { strikeAtMs: 4_000, healAfterMs: 8_000 };
const DRAIN_DEADLINE_MS = 90_000;
/** Looks, 2 s apart, that must agree before the pipeline counts as drained. */
const STILL_ROUNDS = 3;
/**
 * With units still in flight, how long nothing may move before they count as
 * stuck rather than on their way: longer than a consumer group takes to
 * rebalance after a broker came back (the consumers' 10 s session timeout,
 * then the rebalance), during which nothing is written.
 */
const STUCK_AFTER_MS = 30_000;

const readOrders = async (sale: LabSale, sku: string): Promise<OrderRow[]> =>
  (JSON.parse(await sale.lab.host(SALE_HOSTS.pipeline).runNode({ file: labScript('orders-main.js') }, [sale.env.MYSQL_URL, sku])) as { orders: OrderRow[] })
    .orders;

const reconcile = async (sale: LabSale, sku: string, fix: boolean): Promise<ReconcileReport> =>
  JSON.parse(
    await sale.seckill(SALE_HOSTS.pipeline, ['reconcile', '--sku', sku, '--json', ...(fix ? ['--fix'] : [])]).catch((error: unknown) => {
      // reconcile exits non-zero when it finds drift; its report is on stdout all the same.
      if (error instanceof LabError && error.output?.stdout) return error.output.stdout;
      throw error;
    }),
  ) as ReconcileReport;

/**
 * Waits until the pipeline is still: MySQL's live orders and Redis's units in
 * flight the same over STILL_ROUNDS looks, and, while units are in flight,
 * for STUCK_AFTER_MS (a consumer group rebalancing writes nothing for a
 * while: a shorter look took orders on their way for lost ones). Not
 * "nothing in flight": after a lost write a reservation may stay in flight
 * for good (its persisted mark was lost), which is a finding of the run, not
 * a pipeline at work.
 */
const drained = async (sale: LabSale, sku: string): Promise<void> => {
  const deadline = Date.now() + DRAIN_DEADLINE_MS;
  const seen: string[] = [];
  let changedAt = Date.now();
  for (;;) {
    const sku0 = (await reconcile(sale, sku, false)).skus[0];
    const look = JSON.stringify([sku0?.liveOrders, sku0?.inFlight]);
    if (look !== seen.at(-1)) changedAt = Date.now();
    seen.push(look);
    const last = seen.slice(-STILL_ROUNDS);
    const still = sku0 && last.length === STILL_ROUNDS && last.every((s) => s === last[0]);
    if (still && (sku0.inFlight === 0 || Date.now() - changedAt >= STUCK_AFTER_MS)) return;
    if (Date.now() > deadline) throw new Error(`the pipeline did not drain within ${DRAIN_DEADLINE_MS / 1000} s: ${JSON.stringify(sku0)}`);
    await sleep(2_000);
  }
};

/**
 * One row on a sale already running: the row's own SKU preloaded, the crowd,
 * the fault struck and healed, the pipeline drained, reconcile --fix, the verdict.
 */
export const runLabRow = async (sale: LabSale, opts: LabRowOptions): Promise<LabRow> => {
  const { sku, stock, buyers, arrivalMs } = opts;
  const strikeAtMs = opts.strikeAtMs ?? LAB_FAULT_TIMES.strikeAtMs;
  const healAfterMs = opts.healAfterMs ?? LAB_FAULT_TIMES.healAfterMs;
  const say = opts.onProgress ?? (() => {});
  const fault = labFault(opts.fault);
  await sale.seckill(SALE_HOSTS.pipeline, ['preload', '--sku', sku, '--stock', String(stock), '--limit', '1', '--json']);
  const plan: CrowdPlan = { gateways: sale.gatewayUrls, sku, buyers, arrivalMs, giveUpMs: 60_000, requestTimeoutMs: 3_000, runId: sku };
  say(
    `${sku}: ${stock} units, ${buyers} buyers over ${arrivalMs / 1000} s; ${fault.name} strikes ${strikeAtMs / 1000} s in, healed ${healAfterMs / 1000} s later`,
  );
  const crowd = sale.lab
    .host(SALE_HOSTS.buyers)
    .runNode({ file: labScript('crowd-main.js') }, [JSON.stringify(plan)], { timeoutMs: arrivalMs + plan.giveUpMs + 30_000 });
  crowd.catch(() => {});
  await sleep(strikeAtMs);
  const struckAt = Date.now();
  const heal = await fault.strike(sale, sku);
  await sleep(healAfterMs);
  say(`${sku}: healing ${fault.name}`);
  await heal();
  const { told, retried } = JSON.parse(await crowd) as CrowdResult;
  say(`${sku}: crowd done; waiting for the pipeline to drain`);
  await drained(sale, sku);
  const fixed = (await reconcile(sale, sku, true)).fixed;
  const after = await reconcile(sale, sku, false);
  const verdict = judgeLabSale(told, await readOrders(sale, sku), stock, struckAt);
  return {
    fault: fault.name,
    strikeAtMs,
    healAfterMs,
    replicaAcks: sale.replicaAcks,
    stock,
    ...verdict,
    driftAfterFix: after.skus.reduce((sum, s) => sum + Math.abs(s.drift ?? 0), 0),
    fixed,
    retried,
  };
};
