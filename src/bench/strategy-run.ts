/**
 * One strategy through one scenario, the orchestration only: the sale is set
 * up (sale-setup.ts), the processes started (launch.ts), the load driven and
 * the faults injected, the drain awaited (judge/drain.ts), the sale judged
 * (judge/invariants.ts) and its figures put together (figures.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import type { RedisClient } from '../redis/connection.js';
import type { AuthMode, QueueKind } from '../config.js';
import type { StrategyName } from '../gateway/strategies/strategy.js';
import { readSkuRecord } from '../store/orders.js';
import { injectFaults, type FaultRun } from './faults/inject.js';
import { type BrokerControl, type RedisClusterControl } from './faults/targets.js';
import { durationText, etaFromRate, etaText, loadEtaMs } from './eta.js';
import { answersAfter, runLabel, stockSince, summarize, type StrategyRun } from './report/figures.js';
import { invariantsOf } from './judge/invariants.js';
import { DRAIN_STALL_MS, waitForDrain } from './judge/drain.js';
import { readSaleState } from './judge/judged-sale.js';
import { launch } from './servers/launch.js';
import { runLoad, type LoadProgress } from './load/run-load.js';
import type { LoadResult } from './load/load-plan.js';
import type { OwnRedis } from './servers/own-redis.js';
import type { ScrapeTargets } from './servers/launch.js';
import { RunProcesses } from './servers/run-processes.js';
import { measureRedisCost } from './report/redis-cost.js';
import { measureProcessCost } from './report/process-cost.js';
import { removeSales, resetSale, scheduleOpenings } from './sale-setup.js';
import { startSampler } from './report/sampler.js';
import { BENCH_AUDIENCE, BENCH_ISSUER, createBuyerTokens } from './load/buyer-tokens.js';
import { loadPlanOf, type RunKeys } from './load/traffic.js';
import type { Scenario } from './scenario.js';

export interface BenchContext {
  redis: RedisClient;
  mysql: Pool;
  /** addresses handed to the processes bench starts */
  env: { REDIS_URL: string; MYSQL_URL: string; KAFKA_BROKERS: string };
  queue: QueueKind;
  seed: number;
  /** overrides of the scenario's load */
  load: Partial<Scenario['load']>;
  progress: (line: string) => void;
  /** a line that must be seen (a fault injected), never dropped like a progress line; default: progress */
  note?: (line: string) => void;
  /** the local Kafka broker the stop-kafka fault may stop (checked by checkFaultSetup) */
  kafkaControl?: BrokerControl | null;
  /** bench's own redis-server (at env.REDIS_URL), which the restart-redis fault crashes and starts again */
  ownRedis?: OwnRedis | null;
  /** bench's own Redis Cluster (at env.REDIS_URL), whose master the kill-redis-master fault kills */
  redisCluster?: RedisClusterControl | null;
  /** seckill serve processes (serve --workers) and consume processes sharing the queue; 1 each by default */
  workers?: number;
  consumers?: number;
  /** serve --ticket-lease of the seckill server; null or absent: serve's default */
  ticketLeaseMs?: number | null;
  /**
   * 'during': relay and consumer run alongside the load (one machine does it all);
   * 'after': they start when the load ends, as if they had machines of their own
   * and the queue held the peak meanwhile
   */
  pipeline: 'during' | 'after';
  /** a seckill server already running: nothing is reset or started, its sale is checked as it is */
  target?: string;
  /** leave the run's sale in Redis and MySQL when it is done (for inspection); by default it is removed */
  keep?: boolean;
  /** false: the seckill server makes one reserve.lua call per request (serve --no-group-commit), to compare */
  groupCommit?: boolean;
  /** bench's own Prometheus (--prometheus): every process gets a metrics port it scrapes, and a reconcile watcher runs beside them */
  prometheus?: ScrapeTargets | null;
}

/** Whether a MySQL URL names this machine: then its server's CPU is this machine's mariadbd's. */
const isLoopback = (url: string): boolean => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);

/** Drain deadline of a fault run, counted from when the last fault recovered: redelivery and rebalancing take their time. */
const FAULT_DRAIN_MIN_SEC = 120;

/**
 * One strategy through one scenario: reset, start the server (and for
 * seckill the relay and consumer), drive the load from its own process,
 * inject the scenario's faults (seckill only), wait for the recovery and the
 * drain, read the state, check every invariant, stop, remove the sale.
 */
export const runStrategy = async (
  ctx: BenchContext,
  scenario: Scenario,
  strategy: StrategyName,
  auth: AuthMode = scenario.auth,
  replicaAcks = 0,
): Promise<StrategyRun> => {
  if (!ctx.target) await resetSale(ctx, scenario);
  const usesRedis = strategy === 'seckill';
  const skus = scenario.skus.map((s) => s.sku);
  const note = ctx.note ?? ctx.progress;
  const withFaults = strategy === 'seckill' && scenario.faults.length > 0 && !ctx.target;
  if (scenario.faults.length > 0 && strategy !== 'seckill') note(`${strategy}: the scenario's faults apply to the seckill strategy only; this run has none`);
  // Secrets of this run's, known to the server and to the honest buyers only: the purchase tokens', and the login's.
  const keys: RunKeys = {
    tokenSecret: scenario.tokens ? randomBytes(24).toString('base64url') : null,
    jwt: auth === 'jwt' ? { secret: randomBytes(32).toString('base64url'), issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE } : null,
  };
  const processes = new RunProcesses({
    ...ctx.env,
    ...(keys.tokenSecret !== null && { SECKILL_SECRET: keys.tokenSecret }),
    ...(keys.jwt !== null && { SECKILL_JWT_SECRET: keys.jwt.secret }),
  });
  let faultRun: FaultRun | null = null;

  try {
    const acks = strategy === 'seckill' ? replicaAcks : 0;
    const label = runLabel(strategy, auth, acks, scenario.load.arrival?.shape);
    const { url, metricsUrl, startPipeline } = await launch(ctx, scenario, strategy, processes, {
      withFaults,
      tokens: keys.tokenSecret !== null,
      jwt: keys.jwt,
      replicaAcks: acks,
    });
    // Payments need the consumer during the sale: their orders must reach MySQL to be paid.
    const pipelineAfter = ctx.pipeline === 'after' && !scenario.payment;
    if (!pipelineAfter) await startPipeline();
    // --prometheus: the sale starts once Prometheus scrapes every process, so its graphs hold the whole sale.
    await ctx.prometheus?.untilScraped();

    const logins = keys.jwt && createBuyerTokens(keys.jwt);
    const payers = scenario.payment && { url, share: scenario.payment.payShare, authorization: logins && ((userId: string) => logins.honest(userId)) };
    const sampler = startSampler({ redis: ctx.redis, mysql: ctx.mysql, skus, usesRedis, payers });
    let result: LoadResult;
    let opensAt: number | undefined;
    try {
      opensAt = ctx.target ? undefined : await scheduleOpenings(ctx, scenario);
      // Not through faults: a restarted server or Redis starts its counters again.
      const cost = usesRedis && !ctx.target && !withFaults ? await measureRedisCost(ctx.redis, metricsUrl) : null;
      const cpu =
        !ctx.target && !withFaults
          ? await measureProcessCost(
              () => ({ gateway: processes.pidsOf('serve'), relay: processes.pidsOf('relay'), consumer: processes.pidsOf('consume') }),
              usesRedis ? ctx.redis : null,
              isLoopback(ctx.env.MYSQL_URL),
            )
          : null;
      const started = Date.now();
      if (withFaults)
        faultRun = injectFaults(
          scenario.faults,
          processes.faultTargets({
            kafka: ctx.kafkaControl ?? null,
            redis: ctx.ownRedis ?? null,
            redisCluster: ctx.redisCluster ?? null,
            mysqlUrl: ctx.env.MYSQL_URL,
          }),
          (line) => note(`${label}: ${line}`),
          started,
        );
      const plan = loadPlanOf(url, scenario, ctx.load, ctx.seed, keys, opensAt);
      result = await runLoad(plan, (p: LoadProgress) =>
        ctx.progress(
          `${label}: ${p.seconds.toFixed(0)}s, ${p.requests.toLocaleString('en')} requests, ${p.outcomes.OK ?? 0} sold, ${etaText(loadEtaMs(p, plan))}`,
        ),
      );
      const loadEnded = Date.now();
      const redisCost = cost && (await cost.stop());
      if (pipelineAfter) {
        await startPipeline();
        await ctx.prometheus?.untilScraped();
      }
      if (faultRun) {
        const lastEnds = started + Math.max(...scenario.faults.map((f) => f.atMs + f.forMs));
        ctx.progress(
          `${label}: waiting for the faults to fire and recover (the last one ends as scheduled in ${durationText(lastEnds - Date.now())}, then its restart)`,
        );
        await faultRun.done;
      }
      const drainSec = faultRun ? Math.max(scenario.drainTimeoutSec, FAULT_DRAIN_MIN_SEC) : scenario.drainTimeoutSec;
      const target = {
        redis: ctx.redis,
        readRecord: (sku: string) => readSkuRecord(ctx.mysql, sku),
        usesRedis,
        skus: skus.map((sku) => ({ sku, expectSellOut: scenario.expect.sellOut })),
      };
      const drainDeadline = (faultRun ? Date.now() : loadEnded) + drainSec * 1000;
      const drainEta = etaFromRate();
      let inFlightAtStart: number | null = null;
      const drainEnd = await waitForDrain(
        () => readSaleState(target, result),
        scenario,
        drainDeadline,
        (n) => {
          inFlightAtStart ??= n;
          const eta = drainEta(inFlightAtStart - n, inFlightAtStart);
          ctx.progress(`${label}: draining, ${n} unit(s) on their way to MySQL, ${etaText(eta)} (gives up in ${durationText(drainDeadline - Date.now())})`);
        },
      );
      const processCost = cpu && (await cpu.stop(result.requests, result.cpuMicros));
      // --prometheus: one more scrape of every process, so the graphs end on the drained sale.
      await ctx.prometheus?.untilScraped(Date.now());
      // The state the invariants judge is read once the server has stopped (SIGTERM lets every request
      // it holds finish, the baselines' transactions with them), so no answer is half-written.
      await processes.stop('serve');
      const state = await readSaleState(target, result);
      const invariants = invariantsOf(state, strategy, scenario, auth);
      const drained = drainEnd.drained;
      if (!drainEnd.drained) {
        const detail = drainEnd.stalled
          ? `not drained: units in flight did not move for ${DRAIN_STALL_MS / 1000} s${faultRun ? ' after the faults recovered' : ''}`
          : `not drained ${drainSec} s after the load ended${faultRun ? ' and the faults recovered' : ''}`;
        invariants.push({ name: 'drained', ok: false, detail });
      }
      return summarize(strategy, auth, acks, result, state, {
        invariants,
        drained,
        stockTimeline: stockSince(await sampler.stop(), result.startedAt),
        faults: { ...faultRun?.counts },
        afterFaults: faultRun?.recoveredAt ? answersAfter(result, faultRun.recoveredAt) : null,
        opensAt,
        redisCost,
        processCost,
      });
    } finally {
      await sampler.stop();
    }
  } finally {
    if (faultRun) {
      // The run is over (or failed): nothing more fires, and a restart in progress finishes before everything stops.
      faultRun.cancel();
      await faultRun.done.catch(() => {});
    }
    await processes.stopAll();
    await ctx.prometheus?.forgetTargets();
    if (!ctx.target && !ctx.keep) await removeSales(ctx, scenario);
  }
};
