import { Counter, Gauge } from 'prom-client';
import { scrapedRegistry } from '../metrics-server.js';
import { FINDING_KINDS } from './drift.js';
import type { ReconcileReport } from './report.js';

/**
 * What `reconcile --watch --metrics-port` exports: each round's figures per
 * SKU, so drift is a gauge an operator graphs and alerts on during a sale
 * instead of a line in a log. Every gauge is set from the last round that
 * succeeded; a SKU that left both stores leaves the gauges with the round
 * after.
 */
/** A round's result: every store read and nothing found, findings, or a store could not be read. */
const ROUND_RESULTS = ['clean', 'findings', 'failed'] as const;

export const createReconcileMetrics = () => {
  const { registry, scrapeErrors } = scrapedRegistry();
  const r = [registry];
  const drift = new Gauge({
    name: 'seckill_drift_units',
    help: 'Redis stock + units in flight - MySQL stock, per SKU, at the last reconcile round (0: the stores agree)',
    labelNames: ['sku'],
    registers: r,
  });
  const stock = new Gauge({
    name: 'seckill_stock_units',
    help: 'Units on sale per SKU, in Redis and in MySQL, at the last reconcile round',
    labelNames: ['sku', 'store'],
    registers: r,
  });
  const inFlight = new Gauge({
    name: 'seckill_in_flight_units',
    help: 'Units reserved in Redis, neither persisted in MySQL nor released, per SKU',
    labelNames: ['sku'],
    registers: r,
  });
  const findings = new Gauge({
    name: 'seckill_reconcile_findings',
    help: 'Findings of the last reconcile round, per SKU and kind (ids concerned, or units off for DRIFT)',
    labelNames: ['sku', 'kind'],
    registers: r,
  });
  const rounds = new Counter({
    name: 'seckill_reconcile_rounds_total',
    help: 'Reconcile rounds by result: clean, findings, or failed (a store could not be read)',
    labelNames: ['result'],
    registers: r,
  });
  for (const result of ROUND_RESULTS) rounds.labels(result).inc(0);
  const lastRound = new Gauge({
    name: 'seckill_reconcile_last_round_timestamp_seconds',
    help: 'When the last reconcile round that read both stores ended (Unix time)',
    registers: r,
  });

  /** One round's figures replace the last round's (reset then set, in one synchronous step: a scrape never sees half). */
  const record = (report: ReconcileReport): void => {
    for (const gauge of [drift, stock, inFlight, findings]) gauge.reset();
    for (const s of report.skus) {
      if (s.drift !== null) drift.labels(s.sku).set(s.drift);
      if (s.redisStock !== null) stock.labels(s.sku, 'redis').set(s.redisStock);
      if (s.mysqlStock !== null) stock.labels(s.sku, 'mysql').set(s.mysqlStock);
      if (s.inFlight !== null) inFlight.labels(s.sku).set(s.inFlight);
      // Every kind, 0 when none: a graph by kind shows the round was clean rather than "No data".
      for (const kind of FINDING_KINDS) findings.labels(s.sku, kind).set(0);
      for (const f of s.findings) findings.labels(s.sku, f.kind).set(f.count);
    }
    rounds.labels(report.ok ? 'clean' : 'findings').inc();
    lastRound.setToCurrentTime();
  };
  const failed = (): void => void rounds.labels('failed').inc();
  return { registry, scrapeErrors, record, failed };
};

export type ReconcileMetrics = ReturnType<typeof createReconcileMetrics>;
