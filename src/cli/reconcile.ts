import { setTimeout as sleep } from 'node:timers/promises';
import Table from 'cli-table3';
import { type Command, Option } from 'commander';
import { intOption, loadKafkaBrokers, type QueueKind } from '../config.js';
import { knownSkus, reconcileSku, type DriftSource, type SkuDriftReport } from '../reconcile/drift.js';
import type { FixReport } from '../reconcile/fix.js';
import { repairSkus } from '../reconcile/repair.js';
import { SKU_PATTERN } from '../sale/ids.js';
import { connectionFlags, logLine, withStores } from './common.js';
import { EXIT, runAction, UsageError } from './run.js';

interface ReconcileFlags {
  sku?: string;
  fix?: boolean;
  queue: QueueKind;
  kafkaBrokers?: string;
  topicPrefix?: string;
  freezeTimeout: number;
  grace: number;
  watch?: number;
  json?: boolean;
  redisUrl?: string;
  mysqlUrl?: string;
}

export interface ReconcileReport {
  ok: boolean;
  /** with --fix: what was repaired, per SKU, before the report was read */
  fixed?: FixReport[];
  skus: SkuDriftReport[];
}

const skusOf = async (source: DriftSource, flags: ReconcileFlags) => (flags.sku !== undefined ? [flags.sku] : knownSkus(source));

/** --fix: the repairs, with the queue a reset waits to be drained. */
const repair = async (source: DriftSource, flags: ReconcileFlags): Promise<FixReport[]> =>
  repairSkus(source, await skusOf(source, flags), {
    graceMs: flags.grace * 1000,
    freezeTimeoutMs: flags.freezeTimeout * 1000,
    queue: {
      queue: flags.queue,
      kafkaBrokers: loadKafkaBrokers(flags.kafkaBrokers),
      partitions: 3,
      replicationFactor: 1,
      topicPrefix: flags.topicPrefix ?? process.env.SECKILL_TOPIC_PREFIX ?? '',
      sessionTimeoutMs: 30_000,
    },
  });

const fixLines = (fixed: FixReport[]): string[] =>
  fixed.flatMap((f) => {
    const done = [
      f.markPersisted.length && `marked ${f.markPersisted.length} persisted`,
      f.release.length && `released ${f.release.length} cancelled order(s) (${f.release.reduce((n, r) => n + r.qty, 0)} units back on sale)`,
      f.redrive.length && `re-drove ${f.redrive.length} stuck reservation(s) through the outbox`,
      f.clearHoldings.length && `cleared ${f.clearHoldings.length} holding(s)`,
    ].filter(Boolean);
    if (f.reset?.reset) done.push(`reset Redis from MySQL (stock ${f.reset.from ?? 'missing'} → ${f.reset.to})`);
    if (f.reset && !f.reset.reset) done.push(`NOT reset from MySQL: ${f.reset.reason}`);
    const refused = f.refused.length ? [`  ! ${f.sku}: not released, it would put more units on sale than MySQL has: ${f.refused.slice(0, 20).join(', ')}`] : [];
    return [...(done.length ? [`  fixed ${f.sku}: ${done.join('; ')}`] : []), ...refused];
  });

const measure = async (source: DriftSource, flags: ReconcileFlags): Promise<ReconcileReport> => {
  const skus = await skusOf(source, flags);
  const reports: SkuDriftReport[] = [];
  for (const sku of skus) {
    const report = await reconcileSku(source, sku, flags.grace * 1000);
    if (report === null) {
      // Only a named SKU can be in neither store: the list comes from the stores.
      if (flags.sku !== undefined) throw new UsageError(`SKU ${JSON.stringify(sku)} is neither in Redis nor in MySQL`);
      continue;
    }
    reports.push(report);
  }
  return { ok: reports.every((r) => r.findings.length === 0), skus: reports };
};

const figure = (v: number | null) => (v === null ? '–' : v.toLocaleString('en'));

const reportTable = (report: ReconcileReport, graceSec: number): string => {
  const lines = [`reconcile ${new Date().toISOString()} — Redis vs MySQL, grace ${graceSec} s`];
  if (report.skus.length === 0) return [...lines, 'no SKU in Redis or MySQL'].join('\n');
  const table = new Table({
    head: ['sku', 'Redis stock', 'in flight', 'MySQL stock', 'live orders', 'live units', 'initial', 'drift', 'findings'],
    style: { head: [], border: [] },
  });
  for (const s of report.skus) {
    table.push([s.sku, figure(s.redisStock), figure(s.inFlight), figure(s.mysqlStock), figure(s.liveOrders), figure(s.liveUnits), figure(s.initialStock), figure(s.drift), String(s.findings.length)]);
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
  lines.push(report.ok ? `no drift, no orphans in ${report.skus.length} SKU(s)` : `${found} finding(s) in ${report.skus.filter((s) => s.findings.length > 0).length} of ${report.skus.length} SKU(s)`);
  return lines.join('\n');
};

const print = (report: ReconcileReport, flags: ReconcileFlags) =>
  process.stdout.write(`${flags.json ? JSON.stringify(report) : [...fixLines(report.fixed ?? []), reportTable(report, flags.grace)].join('\n')}\n`);

const reconcile = async (flags: ReconcileFlags): Promise<number> => {
  if (flags.fix && flags.watch !== undefined) throw new UsageError('--fix runs once: use it without --watch');
  if (flags.sku !== undefined && !SKU_PATTERN.test(flags.sku)) throw new UsageError(`--sku must match ${SKU_PATTERN}, got ${JSON.stringify(flags.sku)}`);
  return withStores(flags, async (source) => {
    if (flags.watch === undefined) {
      const fixed = flags.fix ? await repair(source, flags) : undefined;
      const report = { ...(await measure(source, flags)), ...(fixed && { fixed }) };
      print(report, flags);
      return report.ok ? EXIT.OK : EXIT.INVARIANT;
    }
    return watch(source, flags, flags.watch);
  });
};

/**
 * One report per round until SIGINT or SIGTERM. A round that fails (a store
 * briefly down) is logged and the next one tried: a watcher that dies on the
 * first blip watches nothing. A usage error still ends it.
 */
const watch = async (source: DriftSource, flags: ReconcileFlags, everySec: number): Promise<number> => {
  // Not onShutdown: that exits at once, and the connections are closed by the caller once the loop ends.
  const stopped = new AbortController();
  const stop = (signal: string) => {
    if (!stopped.signal.aborted) logLine(`${signal}: stopping`);
    stopped.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    while (!stopped.signal.aborted) {
      try {
        print(await measure(source, flags), flags);
      } catch (error) {
        if (error instanceof UsageError) throw error;
        logLine(`reconcile round failed: ${(error as Error).message}`);
      }
      await sleep(everySec * 1000, undefined, { signal: stopped.signal }).catch(() => {}); // aborted: the loop ends
    }
    return EXIT.OK;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
};

export const registerReconcile = (program: Command): void => {
  connectionFlags(
    program
      .command('reconcile')
      .description('Measure drift between Redis and MySQL, name orphaned reservations, orders and holdings, and (--fix) repair what can be proven safe.')
      .option('--sku <id>', 'check this SKU only (default: every SKU in the Redis SKU index or the MySQL inventory)')
      .option('--grace <seconds>', 'a reservation neither persisted nor released is called stuck only when older than this', intOption('--grace', 0), 60)
      .option('--watch <seconds>', 'check again every so many seconds until SIGINT/SIGTERM (then exit 0)', intOption('--watch', 1))
      .option('--fix', 'first repair what is provably safe (see below), then report what is left')
      .addOption(new Option('--queue <kind>', 'the queue the pipeline uses: a reset waits until it is drained').choices(['kafka', 'redis']).default('kafka'))
      .option('--kafka-brokers <list>', 'Kafka bootstrap servers (env KAFKA_BROKERS, default 127.0.0.1:9092)')
      .option('--topic-prefix <prefix>', 'topic and group prefix of the pipeline (env SECKILL_TOPIC_PREFIX)')
      .option('--freeze-timeout <seconds>', 'a reset waits this long, the SKU frozen, for nothing to be in flight; then gives up and thaws it', intOption('--freeze-timeout', 1, 600), 10),
  )
    .addHelpText(
      'after',
      `
Figures per SKU: Redis stock, units in flight (reserved, neither persisted nor
released), MySQL stock, live orders (not CANCELLED) and their units, initial
stock, and drift = Redis stock + in flight − MySQL stock (0 when in step).

Findings, each with the ids it concerns (the first 20, and a count):
  SKU_NOT_IN_MYSQL / SKU_NOT_IN_REDIS   the SKU is in one store only
  RESERVATION_WITHOUT_ORDER   unsettled past --grace, no order in MySQL
  ORDER_NOT_MARKED_PERSISTED  in MySQL, reservation still in flight past --grace
  PERSISTED_WITHOUT_ORDER     marked persisted, no order in MySQL
  ORDER_UNKNOWN_TO_REDIS      a MySQL order without a Redis reservation
  HOLDING_WITHOUT_LIVE_ORDER  a holding (userId/orderId) released, unknown or cancelled
  CANCELLED_NOT_RELEASED      cancelled in MySQL, units not back on sale in Redis
  DRIFT                       drift ≠ 0
  STOCK_NOT_CONSERVED         initial stock ≠ MySQL stock + live units

--fix repairs, and never puts a unit on sale that MySQL does not have:
  ORDER_NOT_MARKED_PERSISTED  → marked persisted
  CANCELLED_NOT_RELEASED      → released (units MySQL already took back go on sale again)
  RESERVATION_WITHOUT_ORDER   → its order event put in the outbox again (applied once by id)
  HOLDING_WITHOUT_LIVE_ORDER  → cleared, so the user can buy again
  DRIFT, SKU_NOT_IN_REDIS, ORDER_UNKNOWN_TO_REDIS (what the above leave, as
  after a Redis restart without persistence) → Redis reset from MySQL: the
  SKU frozen (buyers get 503 SALE_FROZEN and retry), reconcile waits until
  nothing is in flight (reservations settled, queue drained;
  --freeze-timeout), then stock = MySQL stock, holdings and reservation
  records rebuilt from the orders, thawed. Not in time: nothing reset.
Running --fix twice changes nothing the second time.

Exit code: 0 no finding, 1 findings, 2 usage or set-up error; with --watch,
0 when stopped. Without --fix it changes nothing. The two stores are not read as one
snapshot: on a sale still running, a round may show a drift that has gone by
the next; a drained sale gives the verdict.

Examples:
  $ seckill reconcile
  $ seckill reconcile --sku phone-1 --json
  $ seckill reconcile --sku phone-1 --grace 300
  $ seckill reconcile --watch 10 --json >> drift.jsonl
  $ seckill reconcile --sku phone-1 --fix`,
    )
    .action(runAction(reconcile));
};
