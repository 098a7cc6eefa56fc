import { statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { campaignHtml } from '../bench/report/html/campaign-page.js';
import { reportHtml } from '../bench/report/html/run-page.js';
import { campaignText, reportJson, reportTable, thresholdsHold, thresholdText, type BenchReport } from '../bench/report/report.js';
import { reportJunit } from '../bench/report/junit.js';
import { checkThresholdsFit } from '../bench/judge/thresholds.js';
import { scenarioForSeed } from '../bench/faults/chaos.js';
import { benchOnce, loadOnly, runCampaign, type BenchOptions } from '../bench/bench.js';
import { loadScenario, type Scenario } from '../bench/scenario.js';
import { labSupported } from '../lab/index.js';
import { labCampaignTable, labFaultNames, runLabCampaign } from '../lab/sale/campaign.js';
import { startBroker, stopBroker } from '../queue/broker.js';
import { ALERT_RULES, OwnPrometheus, SCRAPE_INTERVAL } from '../bench/servers/own-prometheus.js';
import { BENCH_EXAMPLES, benchFlags, optionsOf, scenarioPath, strategiesOf, withBuckets, withThresholds, type BenchFlags } from './bench-flags.js';
import { EXIT, runAction, UsageError } from './exit.js';

/** One progress line on stderr, rewritten in place on a terminal, at most one a second otherwise. */
const progressLine = () => {
  let last = 0;
  return (line: string) => {
    if (process.stderr.isTTY) return void process.stderr.write(`\r\x1b[K${line}`);
    if (Date.now() - last < 1_000) return;
    last = Date.now();
    process.stderr.write(`${line}\n`);
  };
};

/** A line that must be seen (a fault injected): never throttled, never overwritten. */
const noteLine = (line: string): void => void process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}\n` : `${line}\n`);

/**
 * Runs `work` with the local Kafka broker a seckill run needs. One that bench
 * starts for this command is stopped at its end (said on stderr) unless
 * --keep-kafka; one that was running already, or KAFKA_BROKERS, is left as it was.
 */
const withLocalBroker = async <T>(flags: BenchFlags, options: BenchOptions, work: () => Promise<T>): Promise<T> => {
  const needsBroker = flags.target === undefined && options.queue === 'kafka' && options.strategies.includes('seckill') && !options.kafkaGiven;
  if (!needsBroker) return work();
  const started = await startBroker({ onProgress: (line) => process.stderr.write(`kafka: ${line}\n`) });
  try {
    return await work();
  } finally {
    if (!started.alreadyRunning && !started.external) {
      if (flags.keepKafka) {
        noteLine(`kafka: left running (pid ${started.pid}, ${started.address}) as --keep-kafka asked; stop it with: seckill kafka stop`);
      } else {
        await stopBroker({});
        noteLine('kafka: stopped the broker this run started (--keep-kafka keeps it running)');
      }
    }
  }
};

/**
 * --prometheus: runs `work` with a Prometheus of bench's own scraping it,
 * stopped at the end, also when the run fails (--keep-prometheus leaves it
 * running and says how to stop it). Started first: a missing prometheus is
 * said before minutes of set-up.
 */
const withOwnPrometheus = async <T>(flags: BenchFlags, work: (prometheus: OwnPrometheus | null) => Promise<T>): Promise<T> => {
  if (!flags.prometheus) {
    if (flags.keepPrometheus) throw new UsageError('--keep-prometheus keeps the Prometheus of --prometheus: give --prometheus too');
    return work(null);
  }
  const prometheus = await OwnPrometheus.start({ detached: flags.keepPrometheus === true });
  noteLine(
    `prometheus: ${prometheus.url} scrapes this run's serve, relay, consume and reconcile watcher every ${SCRAPE_INTERVAL} and evaluates ${ALERT_RULES} (pid ${prometheus.pid}, data in ${prometheus.dir})`,
  );
  try {
    return await work(prometheus);
  } finally {
    if (flags.keepPrometheus) {
      prometheus.leaveRunning();
      noteLine(`prometheus: left running at ${prometheus.url} as --keep-prometheus asked; stop it with: kill ${prometheus.pid} && rm -r ${prometheus.dir}`);
    } else {
      await prometheus.stop();
      noteLine('prometheus: stopped, its data deleted (--keep-prometheus keeps it running)');
    }
  }
};

/** --html, --junit: the file, written once the figures are printed (a report that cannot be written still leaves them on stdout). */
const writeReport = (file: string | undefined, what: string, content: () => string): void => {
  if (file === undefined) return;
  writeFileSync(file, content());
  process.stderr.write(`${what} written to ${file}\n`);
};

/** A report file's folder must be there: said before a run of minutes, not after it. */
const checkReportFolder = (flag: string, file: string | undefined): void => {
  if (file !== undefined && !statSync(dirname(file), { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${flag} ${file}: the folder ${dirname(file)} does not exist`);
  }
};

/**
 * Thresholds and --junit judge one run of the sale bench runs and checks:
 * not a chaos campaign (--seeds), a lab campaign (--lab), or a --target
 * load with no invariants checked. Refused before anything starts, as is a
 * threshold the run could not judge (its strategy, or the ceiling, not in it).
 */
const checkJudgedRun = (scenario: Scenario, flags: BenchFlags): void => {
  const asked = [...(scenario.thresholds.length > 0 ? ['thresholds'] : []), ...(flags.junit !== undefined ? ['--junit'] : [])];
  if (asked.length === 0) return;
  const why =
    flags.lab !== undefined
      ? '--lab'
      : flags.seeds !== undefined
        ? '--seeds'
        : flags.target !== undefined && (!flags.redisUrl || !flags.mysqlUrl)
          ? '--target without --redis-url and --mysql-url (nothing is judged)'
          : null;
  if (why !== null) throw new UsageError(`${asked.join(' and ')}: for one judged bench run only, not with ${why}`);
  checkThresholdsFit(scenario.thresholds, strategiesOf(flags));
};

/** The exit code of a judged run: an invariant broken outranks a threshold (a sale that was wrong; how fast it was wrong matters less). */
export const benchExit = (report: Pick<BenchReport, 'ok' | 'thresholds'>): number =>
  !report.ok ? EXIT.INVARIANT : thresholdsHold(report) ? EXIT.OK : EXIT.THRESHOLD;

const bench = async (scenarioName: string, flags: BenchFlags): Promise<number> => {
  checkReportFolder('--html', flags.html);
  checkReportFolder('--junit', flags.junit);
  const scenario = withThresholds(withBuckets(loadScenario(scenarioPath(scenarioName)), flags.buckets), flags.threshold);
  checkJudgedRun(scenario, flags);
  if (flags.prometheus && (flags.lab !== undefined || flags.target !== undefined))
    throw new UsageError(`--prometheus scrapes the processes bench starts itself: not with --${flags.lab !== undefined ? 'lab' : 'target'}`);
  if (flags.lab !== undefined) return benchInLab(scenario, flags);
  if (flags.cpuProf !== undefined) process.env.SECKILL_CPU_PROF_DIR = resolve(flags.cpuProf);
  const options = optionsOf(flags, { progress: progressLine(), note: noteLine });
  return withOwnPrometheus(flags, (prometheus) => withLocalBroker(flags, options, () => benchWith(scenario, { ...options, prometheus }, flags)));
};

/**
 * --lab: the scenario's first SKU, its requests (one buyer each) and duration, on hosts of their own, once per fault (or,
 * with --seeds, once per seed, the fault and its timing drawn from it) and per --replica-acks value.
 */
const benchInLab = async (scenario: Scenario, flags: BenchFlags): Promise<number> => {
  const asked = ['target', 'compare', 'redisCluster', 'ownRedis', 'workers', 'drainRate', 'arrival'] as const;
  const clash = asked.find((flag) => flags[flag] !== undefined && flags[flag] !== false);
  if (clash)
    throw new UsageError(
      `--lab builds its own sale (Redis Cluster, Kafka, MySQL, gateways): it takes no --${clash.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    );
  const support = await labSupported();
  if (!support.ok) throw new UsageError(`--lab needs network namespaces: ${support.reason}`);
  const faults = (() => {
    try {
      return labFaultNames(flags.lab!);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  })();
  const [sku] = scenario.skus;
  const campaign = await runLabCampaign({
    faults,
    seeds: flags.seeds,
    replicaAcks: flags.replicaAcks ?? [1],
    sku: sku.sku,
    stock: sku.stock,
    buyers: scenario.load.requests,
    arrivalMs: scenario.load.durationSec * 1000,
    onProgress: noteLine,
  });
  process.stdout.write(`${flags.json ? JSON.stringify(campaign) : labCampaignTable(campaign)}\n`);
  return campaign.ok ? EXIT.OK : EXIT.INVARIANT;
};

const benchWith = async (scenario: Scenario, options: BenchOptions, flags: BenchFlags): Promise<number> => {
  const print = (text: string) => {
    if (process.stderr.isTTY) process.stderr.write('\n'); // end the progress line
    process.stdout.write(`${text}\n`);
  };
  if (flags.target !== undefined) {
    // Someone else's sale: it is checked only against the Redis and MySQL it was said to use.
    if (flags.compare !== undefined || flags.strategy !== 'seckill' || flags.auth !== undefined || flags.buckets !== undefined) {
      throw new UsageError(
        '--target benches the one server it names: no --strategy, --compare, --auth or --buckets (its sign-in is the scenario\'s "auth", its buckets what its sale was preloaded with)',
      );
    }
    if (!flags.redisUrl || !flags.mysqlUrl) {
      const summary = await loadOnly(flags.target, scenario, options);
      print(flags.json ? JSON.stringify(summary) : JSON.stringify(summary, null, 2));
      return EXIT.OK;
    }
  }
  if (flags.seeds !== undefined) {
    const campaign = await runCampaign(scenario, options, flags.seeds);
    print(flags.json ? JSON.stringify(campaign) : campaignText(campaign));
    writeReport(flags.html, 'report', () => campaignHtml(campaign));
    return campaign.breaks.length === 0 ? EXIT.OK : EXIT.INVARIANT;
  }
  const report = await benchOnce(scenarioForSeed(scenario, flags.seed), options);
  print(flags.json ? reportJson(report) : reportTable(report));
  // On stderr too: with --json, the line a CI log shows.
  for (const t of report.thresholds.filter((x) => !x.ok)) noteLine(`threshold broken: ${thresholdText(t)}`);
  writeReport(flags.html, 'report', () => reportHtml(report));
  writeReport(flags.junit, 'JUnit report', () => reportJunit(report));
  return benchExit(report);
};

export const registerBench = (program: Command): void => {
  benchFlags(
    program
      .command('bench')
      .description('Run a flash-sale scenario end to end, check every invariant, and report throughput, latency and drift per strategy.')
      .argument('<scenario>', 'a name from scenarios/ (e.g. flash-1000) or a path to a scenario file'),
  )
    .addHelpText('after', BENCH_EXAMPLES)
    .action(runAction(bench));
};
