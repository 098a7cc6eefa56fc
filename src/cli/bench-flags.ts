/**
 * The flags of `seckill bench` and the options they fill for bench's engine
 * (src/bench/bench.ts): the flag table, the lists it parses, and the help's
 * examples. bench.ts only runs what they describe.
 */
import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import type { BenchOptions } from '../bench/bench.js';
import { ARRIVAL_MODELS, type ArrivalModel } from '../bench/load/arrivals.js';
import type { Scenario } from '../bench/scenario.js';
import { parseThreshold, THRESHOLD_OPERATORS, type Threshold } from '../bench/judge/thresholds.js';
import { METRIC_NAMES } from '../bench/judge/threshold-metrics.js';
import { LAB_FAULTS } from '../lab/sale/lab-faults.js';
import { MAX_BUCKETS } from '../sale/buckets.js';
import { AUTH_MODES, intOption, loadConnections, loadKafkaBrokers, type AuthMode, type QueueKind } from '../config.js';
import { STRATEGY_NAMES, type StrategyName } from '../gateway/strategies/strategy.js';
import { UsageError } from './exit.js';

export interface BenchFlags {
  strategy: StrategyName;
  compare?: string;
  auth?: AuthMode[];
  arrival?: ArrivalModel[];
  arrivalRate?: number;
  rampFrom?: number;
  maxInFlight?: number;
  queue: QueueKind;
  connections?: number;
  buckets?: number;
  requests?: number;
  duration?: number;
  seed: number;
  json?: boolean;
  html?: string;
  /** --threshold, each time it is given */
  threshold?: Threshold[];
  junit?: string;
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
  lab?: string;
  prometheus?: boolean;
  keepPrometheus?: boolean;
}

export const seedRange = (raw: string): number[] => {
  const m = /^(\d+)-(\d+)$/.exec(raw.trim());
  const [a, b] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || b < a || b - a >= 50) throw new UsageError(`--seeds must be a range like 1-5 (at most 50 seeds), got ${JSON.stringify(raw)}`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
};

/** `--auth none,jwt`: the sign-in modes each strategy runs in, once each. */
export const authModes = (raw: string): AuthMode[] => {
  const modes = raw.split(',').map((m) => m.trim());
  const unknown = modes.find((m) => !(AUTH_MODES as readonly string[]).includes(m));
  if (unknown !== undefined || new Set(modes).size !== modes.length)
    throw new UsageError(`--auth must list ${AUTH_MODES.join(' and/or ')} (each once), got ${JSON.stringify(raw)}`);
  return modes as AuthMode[];
};

/** `--arrival closed,spike`: how the crowd arrives, one run each. */
export const arrivalModels = (raw: string): ArrivalModel[] => {
  const models = raw.split(',').map((m) => m.trim());
  const unknown = models.find((m) => !(ARRIVAL_MODELS as readonly string[]).includes(m));
  if (unknown !== undefined || new Set(models).size !== models.length)
    throw new UsageError(`--arrival must list ${ARRIVAL_MODELS.join(', ')} (each once), like spike or closed,spike, got ${JSON.stringify(raw)}`);
  return models as ArrivalModel[];
};

/** `--replica-acks 0,1`: the seckill server's replica acks, one run each. */
export const replicaAcksList = (raw: string): number[] => {
  const values = raw.split(',').map((v) => v.trim());
  const acks = values.map(Number);
  if (values.some((v) => !/^\d$/.test(v)) || acks.some((n) => n > 5) || new Set(acks).size !== acks.length) {
    throw new UsageError(`--replica-acks must list replica counts from 0 to 5 (each once), like 1 or 0,1, got ${JSON.stringify(raw)}`);
  }
  return acks;
};

/** `--threshold p99<150ms`, as often as given: each parsed at once, so a bad one is refused before anything runs. */
export const collectThreshold = (raw: string, earlier: Threshold[] = []): Threshold[] => [...earlier, parseThreshold(raw)];

/** The scenario's thresholds and the command line's, both held to. */
export const withThresholds = (scenario: Scenario, thresholds: Threshold[] | undefined): Scenario =>
  thresholds === undefined ? scenario : { ...scenario, thresholds: [...scenario.thresholds, ...thresholds] };

/** `flash-1000` means scenarios/flash-1000.json; a path is taken as it is. */
export const scenarioPath = (name: string): string => (existsSync(name) || name.includes('/') || name.endsWith('.json') ? name : `scenarios/${name}.json`);

export const strategiesOf = (flags: BenchFlags): StrategyName[] => {
  if (flags.compare === undefined) return [flags.strategy];
  const names = flags.compare.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(STRATEGY_NAMES as readonly string[]).includes(n))
      throw new UsageError(`--compare: unknown strategy ${JSON.stringify(n)} (known: ${STRATEGY_NAMES.join(', ')})`);
  }
  return names as StrategyName[];
};

/** The flags as bench's engine takes them. */
export const optionsOf = (flags: BenchFlags, lines: Pick<BenchOptions, 'progress' | 'note'>): BenchOptions => {
  const { redisUrl, mysqlUrl } = loadConnections(flags);
  return {
    strategies: strategiesOf(flags),
    auth: flags.auth ?? null,
    arrivals: flags.arrival ?? null,
    arrivalAsk: { rate: flags.arrivalRate ?? null, rampFrom: flags.rampFrom ?? null },
    queue: flags.queue,
    pipeline: flags.pipeline,
    seed: flags.seed,
    load: {
      ...(flags.connections !== undefined && { connections: flags.connections }),
      ...(flags.requests !== undefined && { requests: flags.requests }),
      ...(flags.duration !== undefined && { durationSec: flags.duration }),
      ...(flags.maxInFlight !== undefined && { maxInFlight: flags.maxInFlight }),
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
    ...lines,
  };
};

/** `--buckets n`: every SKU of the scenario split over n buckets (1: none), to compare layouts on one scenario. */
export const withBuckets = (scenario: Scenario, buckets: number | undefined): Scenario =>
  buckets === undefined ? scenario : { ...scenario, skus: scenario.skus.map((sku) => ({ ...sku, buckets })) };

/** bench's flags on its command. */
export const benchFlags = (command: Command): Command =>
  command
    .addOption(new Option('--strategy <name>', 'how the server answers').choices(STRATEGY_NAMES).default('seckill'))
    .option('--compare <list>', `several strategies in one run, e.g. ${STRATEGY_NAMES.join(',')}`)
    .option(
      '--auth <modes>',
      "who buyers are: none (the body's userId), jwt (a bearer token signed by the run's login key), or none,jwt: each strategy once per mode, side by side (the cost of verifying); default: the scenario's \"auth\"",
      authModes,
    )
    .option(
      '--arrival <models>',
      "how the crowd arrives: closed (each connection sends again once answered), or an open crowd that does not wait: constant, ramp, spike (from nothing to the peak in 100 ms, held, then a tail of retries); requests go out on a pool of --connections, wait for a free one (timed from their arrival), and past --max-in-flight are dropped and counted; a list (closed,spike) runs each side by side; default: the scenario's load.arrival, or closed",
      arrivalModels,
    )
    .option(
      '--arrival-rate <n>',
      "requests a second of the open crowd: constant's rate, ramp's end, spike's peak; default: the scenario's, or its requests over its duration",
      intOption('--arrival-rate', 1, 1_000_000),
    )
    .option('--ramp-from <n>', 'requests a second a ramp starts from (default 0)', intOption('--ramp-from', 0, 1_000_000))
    .option(
      '--max-in-flight <n>',
      "the open crowd's requests in flight at most, on a connection or waiting for one: a request due past it is dropped (default: the scenario's, or 10 a connection)",
      intOption('--max-in-flight', 1, 1_000_000),
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
    .option(
      '--prometheus',
      "start a Prometheus of bench's own (127.0.0.1, a free port, data in a temp dir; Debian's prometheus package) that scrapes the run's serve, relay, consume and a reconcile watcher every second and evaluates alerts/seckill.yml; its URL is printed, and it is stopped at the end",
    )
    .option('--keep-prometheus', 'with --prometheus: leave it running after the run, to look at the graphs (it says its pid and how to stop it)')
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
    .option(
      '--lab <faults>',
      'run the scenario in a lab of network namespaces (root): 6 Redis nodes, 3 Kafka brokers, MySQL, 2 gateways, the pipeline and the buyers each on a host of their own, one run per fault (a comma list, or all) and per --replica-acks value; with --seeds, one run per seed, its fault and timing drawn among them',
    )
    .option(
      '--threshold <expr>',
      `a limit the run's figures must hold, as often as needed: [strategy:]metric<op>value, e.g. 'p99<150ms', 'ceiling>=0.7', 'mysql-update:errors==0' (no prefix: seckill); operators ${THRESHOLD_OPERATORS.join(' ')}; metrics ${METRIC_NAMES.join(', ')}; added to the scenario's "thresholds"; one broken: exit 99`,
      collectThreshold,
    )
    .option('--junit <file>', 'also write the invariants and thresholds as JUnit XML (a testsuite per run, a testcase each), for CI test reports')
    .option(
      '--json',
      'print one JSON object: ok, invariants, thresholds, runs (each with its latency percentiles), parameters, environment (machine, versions)',
    )
    .option('--redis-url <url>', 'Redis address (env REDIS_URL)')
    .option('--mysql-url <url>', 'MySQL address (env MYSQL_URL)')
    .option('--kafka-brokers <list>', 'Kafka bootstrap servers (env KAFKA_BROKERS; unset: a local broker is started)');

export const BENCH_EXAMPLES = `
Examples:
  $ seckill bench smoke
  $ seckill bench flash-1000 --compare seckill,mysql-update,mysql-for-update,ceiling --html report.html
  $ seckill bench contention --compare seckill,ceiling --duration 20 --json
  $ seckill bench contention --compare seckill,ceiling --pipeline after --no-group-commit
  $ seckill bench scenarios/bots.json --queue redis
  $ seckill bench flash-1000 --compare seckill --auth none,jwt     # requests/s with and without verifying tokens
  $ seckill bench smoke --threshold 'p99<150ms' --threshold 'errors==0' --junit bench.xml   # CI: exit 99 on a broken threshold
  $ seckill bench flash-1000 --compare seckill,ceiling --threshold 'ceiling>=0.7' --threshold 'ceiling:p99<50ms'
  $ seckill bench smoke --drain-rate 50000
  $ seckill bench flash-1000 --arrival spike     # an open crowd: the seed's spike, dropped requests counted, latency from the intended send
  $ seckill bench flash-1000 --arrival closed,spike --compare seckill,ceiling   # the closed loop and the spike side by side
  $ seckill bench contention --arrival constant --arrival-rate 2000 --connections 200
  $ seckill bench contention --arrival ramp --ramp-from 500 --arrival-rate 8000 --duration 10
  $ seckill bench smoke --prometheus --keep-prometheus    # a real Prometheus scraping the run; open its URL afterwards
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
  $ seckill bench lab --lab master-partition --replica-acks 0,1   # a master cut from its replica, in a lab of hosts
  $ seckill bench lab --lab all --replica-acks 0,1 --json          # the lab campaign: every fault, without and with acks
  $ seckill bench lab --lab all --seeds 1-5                        # lab chaos: each seed draws a fault, when and how long

Each strategy runs on a fresh sale: preload, server (and relay and consumer),
load from its own process, drain, invariant check. A scenario's "faults"
(kill-consumer, kill-relay, kill-server, stop-kafka, kill-mysql-connections,
restart-redis, kill-redis-master, pause-redis-master, restart-workers, kill-worker)
are injected into the seckill run, each announced as it fires. --lab faults
(${LAB_FAULTS.map((f) => f.name).join(', ')}) strike a sale at size
on hosts of their own (network namespaces; root).

Thresholds hold a run's figures to limits, as k6's do: --threshold (and a
scenario's "thresholds") judged on every run of its strategy, listed in the
table, --json, --html and --junit. Exit codes: 0 every invariant and threshold
holds; 1 an invariant broke (it names the offending ids; 1 wins when a
threshold broke too); 99 a threshold broke, every invariant held; 2 a usage
or set-up error (a malformed threshold among them), nothing run.`;
