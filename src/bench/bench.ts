import { scenarioForSeed } from './faults/chaos.js';
import { measureDrainRate, type DrainRate } from './load/drain-rate.js';
import { describeEnvironment, type RunEnvironment } from './report/environment.js';
import { etaText, loadEtaMs } from './eta.js';
import { checkFaultSetup } from './faults/kinds.js';
import { localBroker, type BrokerControl } from './faults/targets.js';
import { runLoad } from './load/run-load.js';
import { OwnRedis } from './servers/own-redis.js';
import type { ScrapeTargets } from './servers/launch.js';
import { OwnRedisCluster, type ClusterShape } from './servers/own-redis-cluster.js';
import type { BenchReport, CampaignSummary } from './report/report.js';
import type { Scenario } from './scenario.js';
import { runStrategy, type BenchContext } from './strategy-run.js';
import { judgeThresholds } from './judge/thresholds.js';
import type { StrategyRun } from './report/figures.js';
import { BENCH_AUDIENCE, BENCH_ISSUER } from './load/buyer-tokens.js';
import { loadPlanOf } from './load/traffic.js';
import { arrivalOf, type ArrivalAsk, type ArrivalModel } from './load/arrivals.js';
import type { AuthMode, QueueKind } from '../config.js';
import type { StrategyName } from '../gateway/strategies/strategy.js';
import { startBroker } from '../queue/broker.js';
import { connectRedis, redactUrl } from '../redis/connection.js';
import { openMysql } from '../store/mysql.js';

/**
 * `seckill bench` without its argv: one run of a scenario through the
 * strategies, a chaos campaign over seeds, and a load against someone else's
 * server. The CLI parses flags into BenchOptions and prints what comes back.
 */
export interface BenchOptions {
  strategies: StrategyName[];
  /**
   * who buyers are in each run (serve --auth): every strategy runs once per
   * mode listed, side by side (`none,jwt` measures what verifying costs);
   * null: the scenario's `auth`
   */
  auth: AuthMode[] | null;
  queue: QueueKind;
  pipeline: 'during' | 'after';
  /**
   * how the crowd arrives in each run: closed (each connection sends again
   * once answered), or an open crowd's shape; every strategy runs once per
   * model listed, side by side (`closed,spike`); null: the scenario's
   */
  arrivals: ArrivalModel[] | null;
  /** what the command line asks of the open crowd's rate */
  arrivalAsk: ArrivalAsk;
  seed: number;
  /** overrides of the scenario's load */
  load: Partial<Scenario['load']>;
  redisUrl: string;
  mysqlUrl: string;
  /** as KAFKA_BROKERS gives them */
  kafkaBrokers: string;
  /** KAFKA_BROKERS (or the flag) was given: bench starts no broker of its own */
  kafkaGiven: boolean;
  target?: string;
  ownRedis: boolean;
  /** start a Redis Cluster of bench's own for the run (implied, with a replica per master, by a kill-redis-master or pause-redis-master fault) */
  redisCluster: ClusterShape | null;
  /** the first port of bench's own Redis Cluster, when it starts one; null: DEFAULT_BENCH_CLUSTER_PORT */
  redisClusterPort: number | null;
  /**
   * serve --replica-acks of the seckill server: each value once, side by
   * side (`[0, 1]` measures what waiting for a replica costs, and shows what
   * it saves); null: 1 on bench's own cluster with replicas, else 0
   */
  replicaAcks: number[] | null;
  /** serve --workers of the server; null: the scenario's `workers`, or 1 */
  workers: number | null;
  /** serve --ticket-lease of the seckill server (how long its admission tickets last); null: serve's default */
  ticketLeaseMs: number | null;
  /** consume processes sharing the queue */
  consumers: number;
  keep: boolean;
  /** false: the seckill server makes one reserve.lua call per request (serve --no-group-commit) */
  groupCommit: boolean;
  /** also measure the pipeline's drain rate with a backlog of this many orders */
  drainRate?: number;
  /** bench's own Prometheus (--prometheus), which scrapes every process of the runs */
  prometheus?: ScrapeTargets | null;
  progress: (line: string) => void;
  /** a line that must be seen (a fault injected) */
  note: (line: string) => void;
}

export class BenchSetupError extends Error {
  readonly code = 'BENCH_SETUP';
}

/** One bench run of a scenario (its faults already drawn) through the strategies; the report, not printed. */
export const benchOnce = async (scenario: Scenario, options: BenchOptions): Promise<BenchReport> => {
  const { strategies } = options;
  // Faults are injected into the seckill strategy's run only (the baselines run without them, with a note).
  const faults = strategies.includes('seckill') ? scenario.faults : [];
  const wantsOwnRedis = options.ownRedis || faults.some((f) => f.kind === 'restart-redis');
  if (wantsOwnRedis && options.target !== undefined)
    throw new BenchSetupError("--own-redis (or a restart-redis fault) starts a Redis of bench's own: not with --target");
  const wantsCluster =
    options.redisCluster ?? (faults.some((f) => f.kind === 'kill-redis-master' || f.kind === 'pause-redis-master') ? { masters: 3, replicas: 1 } : null);
  const clusterShape = wantsCluster && (options.redisClusterPort === null ? wantsCluster : { ...wantsCluster, port: options.redisClusterPort });
  if (clusterShape && (wantsOwnRedis || options.target !== undefined)) {
    throw new BenchSetupError(
      "--redis-cluster (or a kill-redis-master or pause-redis-master fault) starts a Redis Cluster of bench's own: not with --own-redis, a restart-redis fault or --target",
    );
  }
  const workers = options.workers ?? scenario.workers ?? 1;
  // Waiting for more replicas than each master has would answer every buyer 503.
  const tooMany = (options.replicaAcks ?? []).find((n) => clusterShape !== null && n > clusterShape.replicas);
  if (tooMany !== undefined)
    throw new BenchSetupError(`--replica-acks ${tooMany}: bench's own Redis Cluster has ${clusterShape!.replicas} replica(s) per master (--redis-replicas)`);
  const replicaAcks = options.replicaAcks ?? [(clusterShape?.replicas ?? 0) > 0 ? 1 : 0];
  if (usesKafka(options) && !options.kafkaGiven) {
    await startBroker({ onProgress: (line) => process.stderr.write(`kafka: ${line}\n`) });
  }
  const kafkaControl: BrokerControl | null = faults.some((f) => f.kind === 'stop-kafka') ? await localBroker(options.kafkaBrokers) : null;
  checkFaultSetup(faults, {
    scenario: scenario.name,
    queue: options.queue,
    pipeline: options.pipeline,
    target: options.target !== undefined,
    kafka: kafkaControl,
    kafkaBrokers: options.kafkaBrokers,
    ownRedis: wantsOwnRedis,
    clusterReplicas: clusterShape?.replicas ?? null,
    workers,
  });

  const ownRedis = wantsOwnRedis ? await OwnRedis.start() : null;
  if (ownRedis)
    options.note(
      `redis: bench's own redis-server on port ${ownRedis.port} (append-only, fsync always; data in ${ownRedis.dir}) for this run, not ${options.redisUrl}`,
    );
  const ownCluster = clusterShape
    ? await OwnRedisCluster.start(clusterShape, scenario.skus[0].sku, (line) => options.progress(`redis-cluster: ${line}`))
    : null;
  if (ownCluster) {
    const { masters, replicas } = clusterShape!;
    options.note(
      `redis: bench's own Redis Cluster, ${masters} master(s) with ${replicas} replica(s) each (append-only; data in ${ownCluster.dir}) for this run, not ${options.redisUrl}`,
    );
  }
  const stopOwnRedis = async () => {
    await ownRedis?.stop();
    await ownCluster?.stop();
  };
  const redisUrl = ownRedis?.url ?? ownCluster?.url ?? options.redisUrl;
  let ctx: BenchContext;
  try {
    // Not auto-pipelined: after a failover whose old master lives on (pause-redis-master), ioredis retries a
    // pipeline that MOVED only when every command in it is in one slot, and bench reads many SKUs at once.
    const redis = await connectRedis(redisUrl, { enableOfflineQueue: true, enableAutoPipelining: false });
    const mysql = await openMysql(options.mysqlUrl).catch((error) => {
      redis.disconnect();
      throw error;
    });
    ctx = {
      redis,
      mysql,
      env: { REDIS_URL: redisUrl, MYSQL_URL: options.mysqlUrl, KAFKA_BROKERS: options.kafkaBrokers },
      queue: options.queue,
      seed: options.seed,
      load: options.load,
      progress: options.progress,
      note: options.note,
      kafkaControl,
      ownRedis,
      redisCluster: ownCluster,
      workers,
      ticketLeaseMs: options.ticketLeaseMs,
      consumers: options.consumers,
      pipeline: options.pipeline,
      keep: options.keep,
      groupCommit: options.groupCommit,
      prometheus: options.prometheus ?? null,
      ...(options.target !== undefined && { target: options.target }),
    };
  } catch (error) {
    await stopOwnRedis();
    throw error;
  }

  const runs: StrategyRun[] = [];
  let drainRate: DrainRate | null = null;
  let environment: RunEnvironment;
  try {
    environment = await describeEnvironment(ctx, { used: usesKafka(options), brokers: options.kafkaBrokers });
    for (const strategy of strategies) {
      for (const auth of options.auth ?? [scenario.auth]) {
        // Replica acks are the seckill server's: a baseline runs once.
        for (const acks of strategy === 'seckill' ? replicaAcks : [0]) {
          for (const crowd of crowdsOf(scenario, options)) runs.push(await runStrategy(ctx, crowd, strategy, auth, acks));
        }
      }
    }
    if (options.drainRate) drainRate = await measureDrainRate(ctx, options.drainRate);
  } finally {
    ctx.redis.disconnect();
    await ctx.mysql.end();
    await stopOwnRedis();
  }

  const invariants = runs.flatMap((r) => r.invariants.map((i) => ({ ...i, name: `${r.label}: ${i.name}` })));
  return {
    scenario: scenario.name,
    description: scenario.description,
    date: new Date().toISOString(),
    queue: options.queue,
    pipeline: options.pipeline,
    groupCommit: options.groupCommit,
    ok: invariants.every((i) => i.ok),
    invariants,
    thresholds: judgeThresholds(scenario.thresholds, runs),
    runs,
    drainRate,
    parameters: {
      strategies,
      seed: options.seed,
      load: { ...scenario.load, ...options.load },
      buyers: scenario.buyers,
      skus: scenario.skus.map(({ sku, stock, limit }) => ({ sku, stock, limit })),
      workers,
      consumers: options.consumers,
      arrivals: options.arrivals ?? [scenario.load.arrival?.shape ?? 'closed'],
      replicaAcks: strategies.includes('seckill') ? replicaAcks : [],
      redis: ownRedis
        ? `bench's own redis-server (port ${ownRedis.port})`
        : clusterShape
          ? `bench's own Redis Cluster (${clusterShape.masters} master(s), ${clusterShape.replicas} replica(s) each)`
          : redactUrl(options.redisUrl),
    },
    environment,
  };
};

/** The scenario once per arrival model asked for (`--arrival closed,spike`), each with its crowd's arrival; the scenario as it is without. */
const crowdsOf = (scenario: Scenario, options: Pick<BenchOptions, 'arrivals' | 'arrivalAsk' | 'load'>): Scenario[] => {
  const load = { ...scenario.load, ...options.load };
  const models = options.arrivals ?? [scenario.load.arrival?.shape ?? 'closed'];
  return models.map((model) => ({ ...scenario, load: { ...scenario.load, arrival: arrivalOf(model, load, options.arrivalAsk) } }));
};

/** Whether a run goes through Kafka: the seckill strategy's pipeline with the kafka queue, on a sale bench runs itself. */
const usesKafka = (options: BenchOptions): boolean => !options.target && options.queue === 'kafka' && options.strategies.includes('seckill');

/**
 * A bounded chaos campaign: the scenario once per seed, each with the faults
 * its seed draws, and one summary — runs, faults injected by kind, invariant
 * breaks (each with the seed that reproduces it). A run that could not
 * recover is a break of its seed, and the campaign goes on.
 */
export const runCampaign = async (scenario: Scenario, options: BenchOptions, seeds: number[]): Promise<CampaignSummary> => {
  const summary: CampaignSummary = { scenario: scenario.name, date: new Date().toISOString(), runs: 0, faults: {}, breaks: [], seeds: [], environment: null };
  for (const seed of seeds) {
    const done = summary.seeds.length;
    // The seeds so far say how long one takes (a fault run waits out its recovery and drain: tens of seconds).
    const eta = done === 0 ? null : (summary.seeds.reduce((n, s) => n + s.tookMs, 0) / done) * (seeds.length - done);
    options.note(`chaos: seed ${seed} (${done + 1} of ${seeds.length}), campaign ${etaText(eta)}`);
    summary.runs += 1;
    const seeded = scenarioForSeed(scenario, seed);
    const started = Date.now();
    let report: BenchReport;
    try {
      report = await benchOnce(seeded, { ...options, seed });
    } catch (error) {
      const detail = (error as Error).message.split('\n')[0];
      options.note(`chaos: seed ${seed} failed: ${detail}`);
      summary.breaks.push({ seed, invariant: 'recovered', detail });
      summary.seeds.push({ seed, ok: false, faults: {}, drawn: seeded.faults, sold: 0, drift: null, tookMs: Date.now() - started });
      continue;
    }
    summary.environment ??= report.environment;
    const run = report.runs.find((r) => r.strategy === 'seckill') ?? report.runs[0];
    for (const [kind, n] of Object.entries(run.faults ?? {})) summary.faults[kind] = (summary.faults[kind] ?? 0) + n;
    for (const i of report.invariants.filter((x) => !x.ok)) summary.breaks.push({ seed, invariant: i.name, detail: i.detail });
    summary.seeds.push({ seed, ok: report.ok, faults: run.faults ?? {}, drawn: seeded.faults, sold: run.sold, drift: run.drift, tookMs: Date.now() - started });
  }
  return summary;
};

/** --target without the target's Redis and MySQL: the load figures alone, nothing checked. */
export const loadOnly = async (url: string, scenario: Scenario, options: Pick<BenchOptions, 'load' | 'seed' | 'progress' | 'arrivals' | 'arrivalAsk'>) => {
  if ((options.arrivals?.length ?? 1) > 1) throw new BenchSetupError('--target without --redis-url and --mysql-url runs one crowd: give --arrival one model');
  [scenario] = crowdsOf(scenario, options);
  // With tokens (or sign-in) on, honest buyers carry valid ones only when SECKILL_SECRET (SECKILL_JWT_SECRET, and the
  // target checks bench's issuer and audience) is the target's.
  const plan = loadPlanOf(url, scenario, options.load, options.seed, {
    tokenSecret: process.env.SECKILL_SECRET ?? null,
    jwt:
      scenario.auth === 'jwt' && process.env.SECKILL_JWT_SECRET
        ? { secret: process.env.SECKILL_JWT_SECRET, issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE }
        : null,
  });
  const result = await runLoad(plan, (p) =>
    options.progress(`${url}: ${p.seconds.toFixed(0)}s, ${p.requests.toLocaleString('en')} requests, ${etaText(loadEtaMs(p, plan))}`),
  );
  const { answers: _a, timeline: _t, ...figures } = result;
  return { target: url, checked: false, note: 'no invariants checked: give --redis-url and --mysql-url of the target to check them', ...figures };
};
