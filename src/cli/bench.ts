import { existsSync, writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { reportHtml } from '../bench/html-report.js';
import { reportJson, reportTable, type BenchReport } from '../bench/report.js';
import { measureDrainRate, type DrainRate } from '../bench/drain-rate.js';
import { checkFaultSetup, localBroker, type BrokerControl } from '../bench/faults.js';
import { runLoad } from '../bench/load.js';
import { loadPlanOf } from '../bench/traffic.js';
import { OwnRedis } from '../bench/own-redis.js';
import { scenarioForSeed } from '../bench/chaos.js';
import { loadScenario, type Scenario } from '../bench/scenario.js';
import { runStrategy, type BenchContext, type StrategyRun } from '../bench/strategy-run.js';
import { intOption, loadConnections, loadKafkaBrokers, type QueueKind } from '../config.js';
import { STRATEGY_NAMES, type StrategyName } from '../gateway/strategies/strategy.js';
import { startBroker } from '../queue/broker.js';
import { connectRedis } from '../redis/connection.js';
import { openMysql } from '../store/mysql.js';
import { EXIT, runAction, UsageError } from './run.js';

interface BenchFlags {
  strategy: StrategyName;
  compare?: string;
  queue: QueueKind;
  connections?: number;
  requests?: number;
  duration?: number;
  seed: number;
  json?: boolean;
  html?: string;
  redisUrl?: string;
  mysqlUrl?: string;
  kafkaBrokers?: string;
  drainRate?: number;
  seeds?: number[];
  target?: string;
  pipeline: 'during' | 'after';
  ownRedis?: boolean;
  keep?: boolean;
}

const seedRange = (raw: string): number[] => {
  const m = /^(\d+)-(\d+)$/.exec(raw.trim());
  const [a, b] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || b < a || b - a >= 50) throw new UsageError(`--seeds must be a range like 1-5 (at most 50 seeds), got ${JSON.stringify(raw)}`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
};

/** `flash-1000` means scenarios/flash-1000.json; a path is taken as it is. */
const scenarioPath = (name: string): string => (existsSync(name) || name.includes('/') || name.endsWith('.json') ? name : `scenarios/${name}.json`);

const strategiesOf = (flags: BenchFlags): StrategyName[] => {
  if (flags.compare === undefined) return [flags.strategy];
  const names = flags.compare.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(STRATEGY_NAMES as readonly string[]).includes(n)) throw new UsageError(`--compare: unknown strategy ${JSON.stringify(n)} (known: ${STRATEGY_NAMES.join(', ')})`);
  }
  return names as StrategyName[];
};

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

const bench = async (scenarioName: string, flags: BenchFlags): Promise<number> => {
  const scenario = loadScenario(scenarioPath(scenarioName));
  const strategies = strategiesOf(flags);
  if (flags.target !== undefined) {
    // Someone else's sale: it is checked only against the Redis and MySQL it was said to use.
    if (flags.compare !== undefined || flags.strategy !== 'seckill') throw new UsageError('--target benches the one server it names: no --strategy or --compare');
    if (!flags.redisUrl || !flags.mysqlUrl) return loadOnly(flags.target, scenario, flags);
  }
  if (flags.seeds !== undefined) return campaign(scenario, strategies, flags, flags.seeds);
  const report = await benchOnce(scenarioForSeed(scenario, flags.seed), strategies, flags);
  process.stdout.write(`${flags.json ? reportJson(report) : reportTable(report)}\n`);
  if (flags.html) {
    writeFileSync(flags.html, reportHtml(report));
    process.stderr.write(`report written to ${flags.html}\n`);
  }
  return report.ok ? EXIT.OK : EXIT.INVARIANT;
};

/**
 * A bounded chaos campaign: the scenario once per seed, each with the faults
 * its seed draws, and one summary — runs, faults injected by kind, invariant
 * breaks (each with the seed that reproduces it).
 */
const campaign = async (scenario: Scenario, strategies: StrategyName[], flags: BenchFlags, seeds: number[]): Promise<number> => {
  const faults: Record<string, number> = {};
  const breaks: { seed: number; invariant: string; detail: string }[] = [];
  const runs: { seed: number; ok: boolean; faults: Record<string, number>; sold: number; drift: number | null }[] = [];
  for (const seed of seeds) {
    noteLine(`chaos: seed ${seed} (${runs.length + 1} of ${seeds.length})`);
    let report: BenchReport;
    try {
      report = await benchOnce(scenarioForSeed(scenario, seed), strategies, { ...flags, seed });
    } catch (error) {
      // A run that could not recover (a process that would not start again, a fault that failed) is a failure of
      // that seed, recorded with it; the campaign goes on to the next.
      const detail = (error as Error).message.split('\n')[0]!;
      noteLine(`chaos: seed ${seed} failed: ${detail}`);
      breaks.push({ seed, invariant: 'recovered', detail });
      runs.push({ seed, ok: false, faults: {}, sold: 0, drift: null });
      continue;
    }
    const run = report.runs.find((r) => r.strategy === 'seckill') ?? report.runs[0]!;
    for (const [kind, n] of Object.entries(run.faults ?? {})) faults[kind] = (faults[kind] ?? 0) + n;
    for (const i of report.invariants.filter((x) => !x.ok)) breaks.push({ seed, invariant: i.name, detail: i.detail });
    runs.push({ seed, ok: report.ok, faults: run.faults ?? {}, sold: run.sold, drift: run.drift });
  }
  const summary = { scenario: scenario.name, date: new Date().toISOString(), runs: runs.length, faults, breaks, seeds: runs };
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    const injected = Object.entries(faults).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
    process.stdout.write(
      [
        `chaos campaign: ${scenario.name}, ${runs.length} run(s), seeds ${seeds.join(', ')}`,
        ...runs.map((r) => `  seed ${r.seed}: ${r.ok ? 'ok' : 'BROKEN'}; faults ${Object.entries(r.faults).map(([k, n]) => `${k}×${n}`).join(' ') || 'none'}; sold ${r.sold}; drift ${r.drift ?? '–'}`),
        `faults injected: ${injected}`,
        `invariant breaks: ${breaks.length}`,
        ...breaks.map((b) => `  ✗ seed ${b.seed} ${b.invariant}: ${b.detail}`),
      ].join('\n') + '\n',
    );
  }
  return breaks.length === 0 ? EXIT.OK : EXIT.INVARIANT;
};

/** One bench run of a scenario (its faults already drawn) through the strategies; the report, not printed. */
const benchOnce = async (scenario: Scenario, strategies: StrategyName[], flags: BenchFlags): Promise<BenchReport> => {
  const { mysqlUrl, ...given } = loadConnections(flags);
  const kafkaBrokers = loadKafkaBrokers(flags.kafkaBrokers).join(',');
  const progress = progressLine();
  // Faults are injected into the seckill strategy's run only (the baselines run without them, with a note).
  const faults = strategies.includes('seckill') ? scenario.faults : [];
  const wantsOwnRedis = flags.ownRedis === true || faults.some((f) => f.kind === 'restart-redis');
  if (wantsOwnRedis && flags.target !== undefined) throw new UsageError('--own-redis (or a restart-redis fault) starts a Redis of bench\'s own: not with --target');
  if (!flags.target && flags.queue === 'kafka' && strategies.includes('seckill') && !process.env.KAFKA_BROKERS && !flags.kafkaBrokers) {
    await startBroker({ onProgress: (line) => process.stderr.write(`kafka: ${line}\n`) });
  }
  const kafkaControl: BrokerControl | null = faults.some((f) => f.kind === 'stop-kafka') ? await localBroker(kafkaBrokers) : null;
  checkFaultSetup(faults, { scenario: scenario.name, queue: flags.queue, pipeline: flags.pipeline, target: flags.target !== undefined, kafka: kafkaControl, kafkaBrokers, ownRedis: wantsOwnRedis });

  const ownRedis = wantsOwnRedis ? await OwnRedis.start() : null;
  if (ownRedis) noteLine(`redis: bench's own redis-server on port ${ownRedis.port} (append-only, fsync always; data in ${ownRedis.dir}) for this run, not ${given.redisUrl}`);
  const redisUrl = ownRedis?.url ?? given.redisUrl;
  let redis: Awaited<ReturnType<typeof connectRedis>>;
  let mysql: Awaited<ReturnType<typeof openMysql>>;
  try {
    redis = await connectRedis(redisUrl, { enableOfflineQueue: true });
    mysql = await openMysql(mysqlUrl).catch((error) => {
      redis.disconnect();
      throw error;
    });
  } catch (error) {
    await ownRedis?.stop();
    throw error;
  }
  const ctx: BenchContext = {
    redis,
    mysql,
    env: { REDIS_URL: redisUrl, MYSQL_URL: mysqlUrl, KAFKA_BROKERS: kafkaBrokers },
    queue: flags.queue,
    seed: flags.seed,
    load: loadOverrides(flags),
    progress,
    note: noteLine,
    kafkaControl,
    ownRedis,
    pipeline: flags.pipeline,
    keep: flags.keep === true,
    ...(flags.target !== undefined && { target: flags.target }),
  };
  const runs: StrategyRun[] = [];
  let drainRate: DrainRate | null = null;
  try {
    for (const strategy of strategies) runs.push(await runStrategy(ctx, scenario, strategy));
    if (flags.drainRate) drainRate = await measureDrainRate(ctx, flags.drainRate);
  } finally {
    if (process.stderr.isTTY) process.stderr.write('\n');
    redis.disconnect();
    await mysql.end();
    await ownRedis?.stop();
  }

  const invariants = runs.flatMap((r) => r.invariants.map((i) => ({ ...i, name: `${r.strategy}: ${i.name}` })));
  const report: BenchReport = {
    scenario: scenario.name,
    description: scenario.description,
    date: new Date().toISOString(),
    queue: flags.queue,
    pipeline: flags.pipeline,
    ok: invariants.every((i) => i.ok),
    invariants,
    runs,
    drainRate,
  };
  return report;
};

/** The scenario's load as the flags override it. */
const loadOverrides = (flags: BenchFlags): Partial<Scenario['load']> => ({
  ...(flags.connections !== undefined && { connections: flags.connections }),
  ...(flags.requests !== undefined && { requests: flags.requests }),
  ...(flags.duration !== undefined && { durationSec: flags.duration }),
});

/** --target without the target's Redis and MySQL: the load figures alone, nothing checked. */
const loadOnly = async (url: string, scenario: Scenario, flags: BenchFlags): Promise<number> => {
  const progress = progressLine();
  const result = await runLoad(
    // With tokens on, honest buyers carry valid ones only when SECKILL_SECRET is the target's secret.
    loadPlanOf(url, scenario, loadOverrides(flags), flags.seed, process.env.SECKILL_SECRET ?? null),
    (p) => progress(`${url}: ${p.seconds.toFixed(0)}s, ${p.requests.toLocaleString('en')} requests`),
  );
  const { answers: _a, timeline: _t, ...figures } = result;
  const summary = { target: url, checked: false, note: 'no invariants checked: give --redis-url and --mysql-url of the target to check them', ...figures };
  process.stdout.write(`${flags.json ? JSON.stringify(summary) : JSON.stringify(summary, null, 2)}\n`);
  return EXIT.OK;
};

export const registerBench = (program: Command): void => {
  program
    .command('bench')
    .description('Run a flash-sale scenario end to end, check every invariant, and report throughput, latency and drift per strategy.')
    .argument('<scenario>', 'a name from scenarios/ (e.g. flash-1000) or a path to a scenario file')
    .addOption(new Option('--strategy <name>', 'how the server answers').choices(STRATEGY_NAMES).default('seckill'))
    .option('--compare <list>', `several strategies in one run, e.g. ${STRATEGY_NAMES.join(',')}`)
    .addOption(new Option('--queue <kind>', 'kafka, or redis: the consumer reads the outbox itself').choices(['kafka', 'redis']).default('kafka'))
    .addOption(
      new Option('--pipeline <when>', 'during: relay and consumer share the machine with the load; after: they start when it ends (the queue holds the peak)')
        .choices(['during', 'after'])
        .default('during'),
    )
    .option('--connections <n>', "override the scenario's connections", intOption('--connections', 1, 10_000))
    .option('--requests <n>', "override the scenario's request count", intOption('--requests', 1))
    .option('--duration <seconds>', "override the scenario's duration", intOption('--duration', 1, 600))
    .option('--seed <n>', 'seed of the buyer traffic and of a chaos scenario\'s faults (same seed, same run)', intOption('--seed', 0), 1)
    .option('--seeds <a-b>', 'a chaos campaign: the scenario once per seed from a to b (at most 50), one summary', seedRange)
    .option('--target <url>', 'bench a seckill server already running there: nothing reset or started; invariants checked only with --redis-url and --mysql-url')
    .option('--drain-rate <orders>', 'also measure how fast the pipeline writes a backlog of this many orders to MySQL, next to a raw INSERT+UPDATE loop', intOption('--drain-rate', 1_000, 10_000_000))
    .option('--html <file>', 'also write a self-contained HTML report with charts')
    .option('--keep', "leave each run's sale in Redis and MySQL afterwards, to inspect it (by default it is removed once judged: nothing is left for later consumers to sweep)")
    .option('--own-redis', "start a redis-server of bench's own (append-only, fsync always) for this run instead of REDIS_URL; implied by a restart-redis fault")
    .option('--json', 'print one JSON object: ok, invariants, runs')
    .option('--redis-url <url>', 'Redis address (env REDIS_URL)')
    .option('--mysql-url <url>', 'MySQL address (env MYSQL_URL)')
    .option('--kafka-brokers <list>', 'Kafka bootstrap servers (env KAFKA_BROKERS; unset: a local broker is started)')
    .addHelpText(
      'after',
      `
Examples:
  $ seckill bench smoke
  $ seckill bench flash-1000 --compare seckill,mysql-update,mysql-for-update,ceiling --html report.html
  $ seckill bench contention --compare seckill,ceiling --duration 20 --json
  $ seckill bench scenarios/bots.json --queue redis
  $ seckill bench smoke --drain-rate 50000
  $ seckill bench chaos --seed 7                 # the faults seed 7 draws
  $ seckill bench chaos --seeds 1-10             # a campaign: runs, faults by kind, breaks
  $ seckill bench faults-kill-consumer --json

Each strategy runs on a fresh sale: preload, server (and relay and consumer),
load from its own process, drain, invariant check. A scenario's "faults"
(kill-consumer, kill-relay, kill-server, stop-kafka, kill-mysql-connections,
restart-redis) are injected into the seckill run, each announced as it fires. Exit code 1 names the
broken invariant and the offending ids; 2 is a usage or set-up error.`,
    )
    .action(runAction(bench));
};
