/**
 * A lab campaign: every fault asked, once per --replica-acks value, each in a
 * lab of its own, and one table of the rows. A row breaks when a buyer was
 * told something MySQL does not say, a unit was sold twice, the stores
 * disagree after `reconcile --fix`, or a buyer was refused while units were
 * left: a row without replica acks breaking is the proof the fault bites.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { seededRandom } from '../../bench/random.js';
import { LAB_FAULTS } from './lab-faults.js';
import { startLabSale } from './lab-sale.js';
import { runLabRow, type LabRow } from './run-lab-sale.js';

export interface LabCampaignOptions {
  faults: string[];
  /** a chaos campaign: a row per seed, its fault drawn among `faults`, its timing from the seed too */
  seeds?: number[];
  replicaAcks: number[];
  /** rows take `<sku>-1`, `<sku>-2`, … */
  sku: string;
  stock: number;
  buyers: number;
  arrivalMs: number;
  onProgress?: (line: string) => void;
}

export interface LabCampaign {
  ok: boolean;
  rows: (LabRow & { seed: number | null; broken: string[] })[];
}

interface PlannedRow {
  seed: number | null;
  fault: string;
  strikeAtMs?: number;
  healAfterMs?: number;
}

/**
 * A seed's row: which fault, when it strikes (in the first half of the
 * arrivals, so buyers meet it) and how long it lasts (2–12 s: shorter than
 * a failover, or long past one), drawn so the same seed strikes the same again.
 */
export const drawLabRow = (faults: string[], seed: number, arrivalMs: number): Required<PlannedRow> => {
  const random = seededRandom(seed ^ 0x1ab_c4a0);
  return {
    seed,
    fault: faults[Math.floor(random() * faults.length)],
    strikeAtMs: Math.round(1_000 + random() * Math.max(0, arrivalMs / 2 - 1_000)),
    healAfterMs: Math.round(2_000 + random() * 10_000),
  };
};

/** `all`, or a comma list of fault names. */
export const labFaultNames = (raw: string): string[] => {
  const names = raw === 'all' ? LAB_FAULTS.map((f) => f.name) : raw.split(',').map((n) => n.trim());
  const unknown = names.find((n) => !LAB_FAULTS.some((f) => f.name === n));
  if (unknown !== undefined) throw new Error(`--lab: unknown fault ${JSON.stringify(unknown)} (faults: ${LAB_FAULTS.map((f) => f.name).join(', ')}, or all)`);
  return names;
};

const toldInstead = (byOutcome: Record<string, number>): string =>
  Object.entries(byOutcome)
    .map(([outcome, n]) => `${outcome} ×${n}`)
    .join(', ');

/** What broke in a row, as sentences; empty when the sale came out whole. */
export const brokenIn = (row: LabRow): string[] => [
  ...(row.toldNotInMysql.length > 0 ? [`${row.toldNotInMysql.length} buyer(s) told an order MySQL never got`] : []),
  ...(row.inMysqlNotTold.length > 0
    ? [`${row.inMysqlNotTold.length} order(s) in MySQL never told to their buyer (who were told ${toldInstead(row.untoldBuyersWereTold)})`]
    : []),
  ...(row.oversold > 0 ? [`${row.oversold} unit(s) sold beyond the stock`] : []),
  ...(row.driftAfterFix !== 0 ? [`drift ${row.driftAfterFix} after reconcile --fix`] : []),
  ...(row.refusedWithStockLeft > 0 ? [`${row.refusedWithStockLeft} buyer(s) told SOLD_OUT with units left`] : []),
];

/**
 * One lab per --replica-acks value (its gateways and pipeline run with it),
 * the faults one after the other on it, each on a SKU of its own.
 */
export const runLabCampaign = async (opts: LabCampaignOptions): Promise<LabCampaign> => {
  const rows: LabCampaign['rows'] = [];
  const planned: PlannedRow[] = opts.seeds
    ? opts.seeds.map((seed) => drawLabRow(opts.faults, seed, opts.arrivalMs))
    : opts.faults.map((fault) => ({ seed: null, fault }));
  for (const replicaAcks of opts.replicaAcks) {
    const sale = await startLabSale({ dir: await mkdtemp(join(tmpdir(), 'sk-lab-')), replicaAcks, onProgress: opts.onProgress });
    try {
      for (const [i, { seed, ...plan }] of planned.entries()) {
        opts.onProgress?.(`lab: ${seed === null ? '' : `seed ${seed}, `}${plan.fault}, --replica-acks ${replicaAcks}`);
        const row = await runLabRow(sale, {
          ...plan,
          sku: `${opts.sku}-${i + 1}`,
          stock: opts.stock,
          buyers: opts.buyers,
          arrivalMs: opts.arrivalMs,
          onProgress: opts.onProgress,
        });
        rows.push({ ...row, seed, broken: brokenIn(row) });
      }
    } finally {
      await sale.destroy();
    }
  }
  return { ok: rows.every((r) => r.broken.length === 0), rows };
};

export const labCampaignTable = (campaign: LabCampaign): string => {
  const seeded = campaign.rows.some((r) => r.seed !== null);
  const table = new Table({
    head: [
      ...(seeded ? ['seed', 'strikes at (s)', 'lasts (s)'] : []),
      'fault',
      'replica acks',
      'told, not in MySQL',
      'in MySQL, not told',
      'sold beyond stock',
      'drift after fix',
      'longest stop (s)',
      'gave up',
      'told an order / stock',
    ],
    style: { head: [], border: [] },
  });
  for (const r of campaign.rows) {
    table.push([
      ...(seeded ? [r.seed, (r.strikeAtMs / 1000).toFixed(1), (r.healAfterMs / 1000).toFixed(1)] : []),
      r.fault,
      r.replicaAcks,
      r.toldNotInMysql.length,
      r.inMysqlNotTold.length,
      r.oversold,
      r.driftAfterFix,
      r.secondsToSellAgain === null ? '–' : r.secondsToSellAgain.toFixed(1),
      r.gaveUp,
      `${r.toldAnOrder}/${r.stock}`,
    ]);
  }
  const broken = campaign.rows
    .filter((r) => r.broken.length > 0)
    .map((r) => `  ${r.seed === null ? '' : `seed ${r.seed}: `}${r.fault} (--replica-acks ${r.replicaAcks}): ${r.broken.join('; ')}`);
  return [table.toString(), ...(broken.length > 0 ? ['broken:', ...broken] : ['every row whole'])].join('\n');
};
