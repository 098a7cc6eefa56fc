import Table from 'cli-table3';
import { knownSkus, reconcileSku, type DriftSource, type SkuDriftReport } from './drift.js';
import type { FixReport } from './fix.js';

/** What one reconcile round found, SKU by SKU (and, with --fix, what was repaired first). */
export interface ReconcileReport {
  ok: boolean;
  /** with --fix: what was repaired, per SKU, before the report was read */
  fixed?: FixReport[];
  skus: SkuDriftReport[];
}

export class UnknownSkuError extends Error {
  readonly code = 'UNKNOWN_SKU';
}

/**
 * One round over `sku` alone, or over every SKU either store knows. A named
 * SKU that neither store has is an error; the list from the stores never is.
 */
export const measureSkus = async (source: DriftSource, sku: string | undefined, graceMs: number): Promise<ReconcileReport> => {
  const skus = sku !== undefined ? [sku] : await knownSkus(source);
  const reports: SkuDriftReport[] = [];
  for (const s of skus) {
    const report = await reconcileSku(source, s, graceMs);
    if (report === null) {
      if (sku !== undefined) throw new UnknownSkuError(`SKU ${JSON.stringify(s)} is neither in Redis nor in MySQL`);
      continue;
    }
    reports.push(report);
  }
  return { ok: reports.every((r) => r.findings.length === 0), skus: reports };
};

/** What --fix did, a line per SKU. */
export const fixLines = (fixed: FixReport[]): string[] =>
  fixed.flatMap((f) => {
    const done = [
      f.transfersFinished && `finished ${f.transfersFinished} transfer(s) between buckets`,
      f.markPersisted.length && `marked ${f.markPersisted.length} persisted`,
      f.release.length && `released ${f.release.length} cancelled order(s) (${f.release.reduce((n, r) => n + r.qty, 0)} units back on sale)`,
      f.redrive.length && `re-drove ${f.redrive.length} stuck reservation(s) through the outbox`,
      f.clearHoldings.length && `cleared ${f.clearHoldings.length} holding(s)`,
    ].filter(Boolean);
    if (f.reset?.reset) done.push(`reset Redis from MySQL (stock ${f.reset.from ?? 'missing'} → ${f.reset.to})`);
    if (f.reset && !f.reset.reset) done.push(`NOT reset from MySQL: ${f.reset.reason}`);
    const refused = f.refused.length
      ? [`  ! ${f.sku}: not released, it would put more units on sale than MySQL has: ${f.refused.slice(0, 20).join(', ')}`]
      : [];
    return [...(done.length ? [`  fixed ${f.sku}: ${done.join('; ')}`] : []), ...refused];
  });

const figure = (v: number | null) => (v === null ? '–' : v.toLocaleString('en'));

/** The round for a person: the figures per SKU, then every finding with its ids. */
export const reportTable = (report: ReconcileReport, graceSec: number): string => {
  const lines = [`reconcile ${new Date().toISOString()} — Redis vs MySQL, grace ${graceSec} s`];
  if (report.skus.length === 0) return [...lines, 'no SKU in Redis or MySQL'].join('\n');
  const table = new Table({
    head: ['sku', 'Redis stock', 'in flight', 'MySQL stock', 'live orders', 'live units', 'initial', 'drift', 'findings'],
    style: { head: [], border: [] },
  });
  for (const s of report.skus) {
    table.push([
      s.sku,
      figure(s.redisStock),
      figure(s.inFlight),
      figure(s.mysqlStock),
      figure(s.liveOrders),
      figure(s.liveUnits),
      figure(s.initialStock),
      figure(s.drift),
      String(s.findings.length),
    ]);
  }
  lines.push(table.toString());
  for (const s of report.skus) {
    for (const f of s.findings) {
      const more = f.count > f.ids.length && f.ids.length > 0 ? ` … and ${f.count - f.ids.length} more` : '';
      const ids = f.ids.length > 0 ? `\n    ${f.ids.join(', ')}${more}` : '';
      lines.push(`  ✗ ${s.sku} ${f.kind} (${f.count}): ${f.detail}${ids}`);
    }
  }
  const found = report.skus.reduce((n, s) => n + s.findings.length, 0);
  lines.push(
    report.ok
      ? `no drift, no orphans in ${report.skus.length} SKU(s)`
      : `${found} finding(s) in ${report.skus.filter((s) => s.findings.length > 0).length} of ${report.skus.length} SKU(s)`,
  );
  return lines.join('\n');
};
