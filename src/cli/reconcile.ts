import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, Option } from 'commander';
import { intOption, queueConfigOf, type QueueKind } from '../config.js';
import { serveMetrics } from '../metrics-server.js';
import { knownSkus, type DriftSource } from '../reconcile/drift.js';
import { createReconcileMetrics, type ReconcileMetrics } from '../reconcile/metrics.js';
import type { FixReport } from '../reconcile/fix.js';
import { repairSkus } from '../reconcile/repair.js';
import { fixLines, measureSkus, reportTable, UnknownSkuError, type ReconcileReport } from '../reconcile/report.js';
import { SKU_PATTERN } from '../sale/ids.js';
import { connectionFlags, logLine, withStores } from './common.js';
import { EXIT, runAction, UsageError } from './exit.js';

interface ReconcileFlags {
  sku?: string;
  fix?: boolean;
  queue: QueueKind;
  kafkaBrokers?: string;
  topicPrefix?: string;
  freezeTimeout: number;
  grace: number;
  watch?: number;
  metricsPort?: number;
  json?: boolean;
  redisUrl?: string;
  mysqlUrl?: string;
}

const skusOf = async (source: DriftSource, flags: ReconcileFlags) => (flags.sku !== undefined ? [flags.sku] : knownSkus(source));

/** --fix: the repairs, with the queue a reset waits to be drained. */
const repair = async (source: DriftSource, flags: ReconcileFlags): Promise<FixReport[]> =>
  repairSkus(source, await skusOf(source, flags), {
    graceMs: flags.grace * 1000,
    freezeTimeoutMs: flags.freezeTimeout * 1000,
    queue: queueConfigOf(flags),
  });

/** One round: a usage error when the named SKU is in neither store. */
const measure = async (source: DriftSource, flags: ReconcileFlags): Promise<ReconcileReport> => {
  try {
    return await measureSkus(source, flags.sku, flags.grace * 1000);
  } catch (error) {
    throw error instanceof UnknownSkuError ? new UsageError(error.message) : error;
  }
};

const print = (report: ReconcileReport, flags: ReconcileFlags) =>
  process.stdout.write(`${flags.json ? JSON.stringify(report) : [...fixLines(report.fixed ?? []), reportTable(report, flags.grace)].join('\n')}\n`);

const reconcile = async (flags: ReconcileFlags): Promise<number> => {
  if (flags.fix && flags.watch !== undefined) throw new UsageError('--fix runs once: use it without --watch');
  if (flags.metricsPort !== undefined && flags.watch === undefined)
    throw new UsageError('--metrics-port serves the rounds of --watch: give --watch <seconds> too');
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
 * first blip watches nothing. A usage error still ends it. With
 * --metrics-port, each round's figures are also Prometheus gauges.
 */
const watch = async (source: DriftSource, flags: ReconcileFlags, everySec: number): Promise<number> => {
  const metrics: ReconcileMetrics | null = flags.metricsPort !== undefined ? createReconcileMetrics() : null;
  const server = metrics && (await serveMetrics(metrics, flags.metricsPort!));
  if (server) logLine(`reconcile: metrics on http://127.0.0.1:${flags.metricsPort}/metrics`);
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
        const report = await measure(source, flags);
        metrics?.record(report);
        print(report, flags);
      } catch (error) {
        if (error instanceof UsageError) throw error;
        metrics?.failed();
        logLine(`reconcile round failed: ${(error as Error).message}`);
      }
      await sleep(everySec * 1000, undefined, { signal: stopped.signal }).catch(() => {}); // aborted: the loop ends
    }
    return EXIT.OK;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await new Promise((done) => (server ? server.close(done) : done(null)));
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
      .option(
        '--metrics-port <n>',
        "with --watch: serve Prometheus /metrics on this port, each round's drift, stock, units in flight and findings per SKU",
        intOption('--metrics-port', 1, 65535),
      )
      .option('--fix', 'first repair what is provably safe (see below), then report what is left')
      .addOption(new Option('--queue <kind>', 'the queue the pipeline uses: a reset waits until it is drained').choices(['kafka', 'redis']).default('kafka'))
      .option('--kafka-brokers <list>', 'Kafka bootstrap servers (env KAFKA_BROKERS, default 127.0.0.1:9092)')
      .option('--topic-prefix <prefix>', 'topic and group prefix of the pipeline (env SECKILL_TOPIC_PREFIX)')
      .option(
        '--freeze-timeout <seconds>',
        'a reset waits this long, the SKU frozen, for nothing to be in flight; then gives up and thaws it',
        intOption('--freeze-timeout', 1, 600),
        10,
      ),
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
0 when stopped.

--metrics-port (with --watch) exports, from the last round: seckill_drift_units{sku},
seckill_stock_units{sku,store="redis"|"mysql"}, seckill_in_flight_units{sku},
seckill_reconcile_findings{sku,kind}, seckill_reconcile_rounds_total{result},
seckill_reconcile_last_round_timestamp_seconds. Without --fix it changes nothing. The two stores are not read as one
snapshot: on a sale still running, a round may show a drift that has gone by
the next; a drained sale gives the verdict.

Examples:
  $ seckill reconcile
  $ seckill reconcile --sku phone-1 --json
  $ seckill reconcile --sku phone-1 --grace 300
  $ seckill reconcile --watch 10 --json >> drift.jsonl
  $ seckill reconcile --watch 5 --metrics-port 9467   # drift as a gauge for Prometheus
  $ seckill reconcile --sku phone-1 --fix`,
    )
    .action(runAction(reconcile));
};
