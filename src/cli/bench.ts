import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { campaignHtml } from '../bench/html/campaign-page.js';
import { reportHtml } from '../bench/html/run-page.js';
import { campaignText, reportJson, reportTable } from '../bench/report.js';
import { scenarioForSeed } from '../bench/chaos.js';
import { benchOnce, loadOnly, runCampaign, type BenchOptions } from '../bench/run.js';
import { loadScenario, type Scenario } from '../bench/scenario.js';
import { MAX_BUCKETS } from '../sale/buckets.js';
import { AUTH_MODES, intOption, loadConnections, loadKafkaBrokers, type AuthMode, type QueueKind } from '../config.js';
import { STRATEGY_NAMES, type StrategyName } from '../gateway/strategies/strategy.js';
import { startBroker, stopBroker } from '../queue/broker.js';
import { EXIT, runAction, UsageError } from './run.js';

interface BenchFlags {
  strategy: StrategyName;
  compare?: string;
  auth?: AuthMode[];
  queue: QueueKind;
  connections?: number;
  buckets?: number;
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
  redisCluster?: boolean;
  redisMasters: number;
  redisReplicas: number;
  redisClusterPort?: number;
  replicaAcks?: number[];
  workers?: number;
  ticketLease?: number;
  consumers: number;
  keep?: boolean;
  keepKafka?: boolean;
  groupCommit: boolean;
  cpuProf?: string;
}

const seedRange = (raw: string): number[] => {
  const m = /^(\d+)-(\d+)$/.exec(raw.trim());
  const [a, b] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || b < a || b - a >= 50) throw new UsageError(`--seeds must be a range like 1-5 (at most 50 seeds), got ${JSON.stringify(raw)}`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
};

/** `--auth none,jwt`: the sign-in modes each strategy runs in, once each. */
const authModes = (raw: string): AuthMode[] => {
  const modes = raw.split(',').map((m) => m.trim());
  const unknown = modes.find((m) => !(AUTH_MODES as readonly string[]).includes(m));
  if (unknown !== undefined || new Set(modes).size !== modes.length)
    throw new UsageError(`--auth must list ${AUTH_MODES.join(' and/or ')} (each once), got ${JSON.stringify(raw)}`);
  return modes as AuthMode[];
};

/** `--replica-acks 0,1`: the seckill server's replica acks, one run each. */
const replicaAcksList = (raw: string): number[] => {
  const values = raw.split(',').map((v) => v.trim());
  const acks = values.map(Number);
  if (values.some((v) => !/^\d$/.test(v)) || acks.some((n) => n > 5) || new Set(acks).size !== acks.length) {
    throw new UsageError(`--replica-acks must list replica counts from 0 to 5 (each once), like 1 or 0,1, got ${JSON.stringify(raw)}`);
  }
  return acks;
};

/** `flash-1000` means scenarios/flash-1000.json; a path is taken as it is. */
const scenarioPath = (name: string): string => (existsSync(name) || name.includes('/') || name.endsWith('.json') ? name : `scenarios/${name}.json`);

const strategiesOf = (flags: BenchFlags): StrategyName[] => {
  if (flags.compare === undefined) return [flags.strategy];
  const names = flags.compare.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(STRATEGY_NAMES as readonly string[]).includes(n))
      throw new UsageError(`--compare: unknown strategy ${JSON.stringify(n)} (known: ${STRATEGY_NAMES.join(', ')})`);
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

/** The flags as bench's engine takes them. */
const optionsOf = (flags: BenchFlags): BenchOptions => {
  const { redisUrl, mysqlUrl } = loadConnections(flags);
  return {
    strategies: strategiesOf(flags),
    auth: flags.auth ?? null,
    queue: flags.queue,
    pipeline: flags.pipeline,
    seed: flags.seed,
    load: {
      ...(flags.connections !== undefined && { connections: flags.connections }),
      ...(flags.requests !== undefined && { requests: flags.requests }),
      ...(flags.duration !== undefined && { durationSec: flags.duration }),
    },
    redisUrl,
    mysqlUrl,
    kafkaBrokers: loadKafkaBrokers(flags.kafkaBrokers).join(','),
    kafkaGiven: Boolean(process.env.KAFKA_BROKERS || flags.kafkaBrokers),
    ...(flags.target !== undefined && { target: flags.target }),
    ownRedis: flags.ownRedis === true,
    redisCluster: flags.redisCluster ? { masters: flags.redisMasters, replicas: flags.redisReplicas } : null,
    redisClusterPort: flags.redisClusterPort ?? null,
    replicaAcks: flags.replicaAcks ?? null,
    workers: flags.workers ?? null,
    ticketLeaseMs: flags.ticketLease ?? null,
    consumers: flags.consumers,
    keep: flags.keep === true,
    groupCommit: flags.groupCommit,
    ...(flags.drainRate !== undefined && { drainRate: flags.drainRate }),
    progress: progressLine(),
    note: noteLine,
  };
};

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

/** --html: the page, written once the figures are printed (a report that cannot be written still leaves them on stdout). */
const writeHtml = (file: string | undefined, page: () => string): void => {
  if (file === undefined) return;
  writeFileSync(file, page());
  process.stderr.write(`report written to ${file}\n`);
};

/** `--buckets n`: every SKU of the scenario split over n buckets (1: none), to compare layouts on one scenario. */
const withBuckets = (scenario: Scenario, buckets: number | undefined): Scenario =>
  buckets === undefined ? scenario : { ...scenario, skus: scenario.skus.map((sku) => ({ ...sku, buckets })) };

const bench = async (scenarioName: string, flags: BenchFlags): Promise<number> => {
  // Said before a run of minutes, not after it.
  if (flags.html !== undefined && !statSync(dirname(flags.html), { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`--html ${flags.html}: the folder ${dirname(flags.html)} does not exist`);
  }
  const scenario = withBuckets(loadScenario(scenarioPath(scenarioName)), flags.buckets);
  if (flags.cpuProf !== undefined) process.env.SECKILL_CPU_PROF_DIR = resolve(flags.cpuProf);
  const options = optionsOf(flags);
  return withLocalBroker(flags, options, () => benchWith(scenario, options, flags));
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
    writeHtml(flags.html, () => campaignHtml(campaign));
    return campaign.breaks.length === 0 ? EXIT.OK : EXIT.INVARIANT;
  }
  const report = await benchOnce(scenarioForSeed(scenario, flags.seed), options);
  print(flags.json ? reportJson(report) : reportTable(report));
  writeHtml(flags.html, () => reportHtml(report));
  return report.ok ? EXIT.OK : EXIT.INVARIANT;
};

export const registerBench = (program: Command): void => {
  program
    .command('bench')
    .description('Run a flash-sale scenario end to end, check every invariant, and report throughput, latency and drift per strategy.')
    .argument('<scenario>', 'a name from scenarios/ (e.g. flash-1000) or a path to a scenario file')
    .addOption(new Option('--strategy <name>', 'how the server answers').choices(STRATEGY_NAMES).default('seckill'))
    .option('--compare <list>', `several strategies in one run, e.g. ${STRATEGY_NAMES.join(',')}`)
    .option(
      '--auth <modes>',
      "who buyers are: none (the body's userId), jwt (a bearer token signed by the run's login key), or none,jwt: each strategy once per mode, side by side (the cost of verifying); default: the scenario's \"auth\"",
      authModes,
    )
    .addOption(new Option('--queue <kind>', 'kafka, or redis: the consumer reads the outbox itself').choices(['kafka', 'redis']).default('kafka'))
    .addOption(
      new Option('--pipeline <when>', 'during: relay and consumer share the machine with the load; after: they start when it ends (the queue holds the peak)')
        .choices(['during', 'after'])
        .default('during'),
    )
    .option('--connections <n>', "override the scenario's connections", intOption('--connections', 1, 10_000))
    .option('--buckets <n>', `split every SKU's stock over n buckets (1: none), overriding the scenario`, intOption('--buckets', 1, MAX_BUCKETS))
    .option('--requests <n>', "override the scenario's request count", intOption('--requests', 1))
    .option('--duration <seconds>', "override the scenario's duration", intOption('--duration', 1, 600))
    .option('--seed <n>', "seed of the buyer traffic and of a chaos scenario's faults (same seed, same run)", intOption('--seed', 0), 1)
    .option('--seeds <a-b>', 'a chaos campaign: the scenario once per seed from a to b (at most 50), one summary', seedRange)
    .option(
      '--target <url>',
      'bench a seckill server already running there: nothing reset or started; invariants checked only with --redis-url and --mysql-url',
    )
    .option(
      '--drain-rate <orders>',
      'also measure how fast the pipeline writes a backlog of this many orders to MySQL, next to a raw INSERT+UPDATE loop',
      intOption('--drain-rate', 1_000, 10_000_000),
    )
    .option(
      '--html <file>',
      'also write a self-contained HTML report (charts inlined, opens with no network); with --seeds, one page for the campaign, a row per seed',
    )
    .option(
      '--no-group-commit',
      'the seckill server makes one reserve.lua call per request (serve --no-group-commit), to compare with group commit, the default',
    )
    .option('--cpu-prof <dir>', 'every seckill process bench starts (server, relay, consumers) writes a V8 CPU profile (.cpuprofile) to this dir when it exits')
    .option('--keep-kafka', 'leave running the local Kafka broker this run started (by default it is stopped at the end; one already running is always left)')
    .option(
      '--keep',
      "leave each run's sale in Redis and MySQL afterwards, to inspect it (by default it is removed once judged: nothing is left for later consumers to sweep)",
    )
    .option(
      '--own-redis',
      "start a redis-server of bench's own (append-only, fsync always) for this run instead of REDIS_URL; implied by a restart-redis fault",
    )
    .option(
      '--redis-cluster',
      "start a Redis Cluster of bench's own (local, append-only) for this run instead of REDIS_URL; implied, with a replica per master, by a kill-redis-master fault",
    )
    .option('--redis-masters <n>', 'masters of that cluster', intOption('--redis-masters', 1, 16), 3)
    .option(
      '--redis-replicas <n>',
      'replicas per master of that cluster (1: the server waits for a replica before each 201, unless --replica-acks 0)',
      intOption('--redis-replicas', 0, 2),
      0,
    )
    .option(
      '--redis-cluster-port <n>',
      'first port of that cluster (its nodes take the ports after it; default 7200): another run on this machine may use 7200-',
      intOption('--redis-cluster-port', 1024, 55_000),
    )
    .option(
      '--replica-acks <list>',
      'replicas that must hold each answer naming an order before it is given (serve --replica-acks), or a list: the seckill server once per value, side by side (0,1: with and without); default 1 on a cluster with replicas, else 0',
      replicaAcksList,
    )
    .option('--workers <n>', 'worker processes of the server (serve --workers); default: the scenario\'s "workers", or 1', intOption('--workers', 1, 64))
    .option(
      '--ticket-lease <ms>',
      "how long the seckill server's admission tickets last (serve --ticket-lease; default serve's, 5000): a crashed worker strands its unspent ones this long",
      intOption('--ticket-lease', 100, 600_000),
    )
    .option('--consumers <n>', 'consume processes sharing the queue (a Kafka consumer group, or the outbox streams)', intOption('--consumers', 1, 16), 1)
    .option('--json', 'print one JSON object: ok, invariants, runs (each with its latency percentiles), parameters, environment (machine, versions)')
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
  $ seckill bench contention --compare seckill,ceiling --pipeline after --no-group-commit
  $ seckill bench scenarios/bots.json --queue redis
  $ seckill bench flash-1000 --compare seckill --auth none,jwt     # requests/s with and without verifying tokens
  $ seckill bench smoke --drain-rate 50000
  $ seckill bench smoke --drain-rate 30000 --cpu-prof prof/    # where the relay's and consumer's time goes
  $ seckill bench chaos --seed 7                 # the faults seed 7 draws
  $ seckill bench chaos --seeds 1-10             # a campaign: runs, faults by kind, breaks
  $ seckill bench chaos --seeds 1-10 --html chaos.html
  $ seckill bench faults-kill-consumer --json
  $ seckill bench flash-1000 --redis-cluster --workers 2 --consumers 2
  $ seckill bench scale --redis-cluster --redis-masters 1     # the same run on one master
  $ seckill bench hot-sku --redis-cluster --buckets 1          # the hot SKU in one bucket, against its 12
  $ seckill bench faults-kill-redis-master       # its own cluster, a replica per master
  $ seckill bench faults-pause-redis-master --replica-acks 0,1   # a master paused past the node timeout, without and with replica acks
  $ seckill bench contention --redis-cluster --redis-replicas 1 --replica-acks 0,1 --duration 10   # what waiting for a replica costs
  $ seckill bench deploy                         # serve --workers 2: rolling SIGTERM restarts and SIGKILLed workers mid-sale
  $ seckill bench clocks                         # workers 2 s slow and 2 s fast; every order inside the window
  $ seckill bench faults-kill-redis-master --redis-cluster-port 7400   # its cluster on 7400-7405

Each strategy runs on a fresh sale: preload, server (and relay and consumer),
load from its own process, drain, invariant check. A scenario's "faults"
(kill-consumer, kill-relay, kill-server, stop-kafka, kill-mysql-connections,
restart-redis, kill-redis-master, pause-redis-master, restart-workers, kill-worker)
are injected into the seckill run, each announced as it fires. Exit code 1 names the
broken invariant and the offending ids; 2 is a usage or set-up error.`,
    )
    .action(runAction(bench));
};
