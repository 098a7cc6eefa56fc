import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis/connection.js';
import type { Pool } from 'mysql2/promise';
import { type AuthMode, PAY_TIMEOUT_SEC, type QueueKind } from '../config.js';
import type { StrategyName } from '../gateway/strategies/strategy.js';
import { removeSkuFromRedis, setSaleWindow } from '../sale/catalog.js';
import { putOnSale } from '../sale/put-on-sale.js';
import { driftOf, liveUnits } from '../sale/state.js';
import { deleteSkuRecord, inventoryRecord, setInventoryWindow } from '../store/inventory.js';
import { readSkuRecord } from '../store/orders.js';
import { injectFaults, type BrokerControl, type FaultKind, type FaultRun, type RedisClusterControl } from './faults.js';
import { durationText, etaFromRate, etaText, loadEtaMs } from './eta.js';
import { checkInvariants } from './invariants.js';
import { runLoad, type LoadProgress } from './load.js';
import { TIMELINE_BUCKET_MS, type LatencyPercentile, type LoadResult, type TimelinePoint } from './load-plan.js';
import type { OwnRedis } from './own-redis.js';
import { freePort } from './ports.js';
import { RunProcesses } from './run-processes.js';
import { measureRedisCost, type RedisCost } from './redis-cost.js';
import { startSampler, type StockPoint, type StockSample } from './sampler.js';
import { BENCH_AUDIENCE, BENCH_ISSUER, createBuyerTokens, type JwtTraffic } from './buyer-tokens.js';
import { IMPOSTOR_PREFIX, loadPlanOf, type RunKeys } from './traffic.js';
import { isDrained, readSaleState, unitsInFlight } from './judged-sale.js';
import type { InvariantResult, SaleState } from './judged-sale.js';
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
}

export interface StrategyRun {
  strategy: StrategyName;
  /** who buyers were (serve --auth) */
  auth: AuthMode;
  /** serve --replica-acks of the run: replicas that held each answer naming an order before it was given (0 for the baselines) */
  replicaAcks: number;
  /**
   * the run's name in reports: the strategy, `+jwt` when buyers signed in
   * (bench --auth none,jwt runs both), `+acks1` when the server waited for a
   * replica (bench --replica-acks 0,1 runs both)
   */
  label: string;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  /** how long the load lasted, ms */
  durationMs: number;
  errors: number;
  outcomes: Record<string, number>;
  /** units in orders that are not cancelled */
  sold: number;
  /** MySQL stock at the end (all SKUs) */
  stock: number;
  /** Redis stock + in flight − MySQL stock, summed over SKUs; null without Redis */
  drift: number | null;
  /** ms from the start of the load to the first SOLD_OUT answer (first SKU to sell out); null if none did */
  sellOutMs: number | null;
  /** answers a second once the first SKU sold out (the timeline's buckets after it, the last partial one left out); null if none did or none is left */
  afterSellOutRps: number | null;
  /**
   * ms from the last 201 to the last order written to MySQL: how far the
   * record trails the sale (0 for the baselines, which write it before answering)
   */
  drainMs: number;
  drained: boolean;
  invariants: InvariantResult[];
  /** every answer's latency at fixed percentiles (LATENCY_PERCENTILES) */
  latencyPercentiles: LatencyPercentile[];
  /** answers and latency per TIMELINE_BUCKET_MS */
  timeline: TimelinePoint[];
  /** stock in both stores, sampled every TIMELINE_BUCKET_MS, on the timeline's clock */
  stockTimeline: StockPoint[];
  /** faults injected during this run, by kind (empty without faults, and for the baselines) */
  faults: Partial<Record<FaultKind, number>>;
  /**
   * the answers once every fault had recovered (a restarted process listens
   * again, a paused master's cluster agrees again): from when, ms since the
   * load started, and the answers by outcome from then to the end of the
   * load — what the buyers met after the last restart; null without faults
   */
  afterFaults: { fromMs: number; outcomes: Record<string, number> } | null;
  /** a scheduled sale: answers to requests sent before the opening, by outcome; null when the sale was open from the start */
  beforeOpening: Record<string, number> | null;
  /** buyers whose reply was lost: how many, how many held an order, how many of those their retry told it; null when none */
  lostReplies: { sent: number; heldOrder: number; toldOrderId: number } | null;
  /** seckill: Redis's script time over the load and the server's reserve.lua calls; null for the baselines, the ceiling and --target */
  redisCost: RedisCost | null;
}

/** The run's name in reports. */
export const runLabel = (strategy: StrategyName, auth: AuthMode, replicaAcks = 0): string =>
  `${strategy}${auth === 'jwt' ? '+jwt' : ''}${replicaAcks > 0 ? `+acks${replicaAcks}` : ''}`;

/** Bots that posted without a purchase token (users `bot<n>`) must hold nothing: no order, no reservation. */
const botsHoldNothing = (state: SaleState): InvariantResult => {
  const held = state.skus.flatMap((s) => [...s.orders, ...s.reservations].filter((o) => o.userId.startsWith('bot')).map((o) => `${o.userId}: ${o.orderId}`));
  return {
    name: 'bots-without-token-hold-nothing',
    ok: held.length === 0,
    detail: held.length === 0 ? 'no order or reservation of a bot without a token' : `bots hold ${held.length}: ${held.slice(0, 5).join(', ')}`,
  };
};

/**
 * Impostors (bad bearer tokens, or a good one and another buyer's userId)
 * must hold nothing and have been told no order: no order (so none paid) and
 * no reservation under their own user id, none under the honest buyer one
 * named (their request ids give them away), and no 201 or order id answered
 * to one of their requests.
 */
const impostorsHoldNothing = (state: SaleState): InvariantResult => {
  const isImpostor = (userId: string, requestId?: string | null) => userId.startsWith(IMPOSTOR_PREFIX) || (requestId ?? '').startsWith(IMPOSTOR_PREFIX);
  const wrong = [
    ...state.skus.flatMap((s) =>
      s.orders.filter((o) => isImpostor(o.userId, o.requestId)).map((o) => `${o.userId}/${o.requestId}: order ${o.orderId} ${o.status}`),
    ),
    // A reservation record names no request id; one under an honest buyer's name is also an order or an answer once drained.
    ...state.skus.flatMap((s) => s.reservations.filter((r) => isImpostor(r.userId)).map((r) => `${r.userId}: reservation ${r.orderId}`)),
    ...state.answers.filter((a) => isImpostor(a.userId, a.requestId)).map((a) => `${a.userId}/${a.requestId}: answered ${a.status} with ${a.orderId}`),
  ];
  return {
    name: 'bots-with-bad-identity-hold-nothing',
    ok: wrong.length === 0,
    detail:
      wrong.length === 0
        ? 'no order (none paid), reservation or order id for a bot with a missing, expired, forged, wrong-audience, wrong-issuer or other-user token'
        : `impostors got ${wrong.length}: ${wrong.slice(0, 5).join(', ')}`,
  };
};

/** A scheduled SKU is put on sale closed until the load starts and schedules its opening. */
const NOT_YET_MS = 3_600_000;

/** Puts the scenario's SKUs on sale afresh: orders, reservations, outbox and counters gone. */
export const resetSale = async (ctx: BenchContext, scenario: Scenario): Promise<void> => {
  const defs = scenario.skus.map(({ weight: _weight, opensAfterMs, endsAfterMs: _endsAfter, ...def }) =>
    opensAfterMs === null ? def : { ...def, startsAt: Date.now() + NOT_YET_MS },
  );
  await putOnSale(ctx.redis, inventoryRecord(ctx.mysql), defs, { reset: true });
};

/**
 * Sets each scheduled SKU's window from now, in both stores: it opens
 * `opensAfter` and ends `endsAfter` from now. Returns the first opening
 * (ms since epoch), if any.
 */
const scheduleOpenings = async (ctx: BenchContext, scenario: Scenario): Promise<number | undefined> => {
  const now = Date.now();
  let first: number | undefined;
  for (const { sku, opensAfterMs, endsAfterMs, startsAt, endsAt } of scenario.skus) {
    if (opensAfterMs === null && endsAfterMs === null) continue;
    const opensAt = opensAfterMs === null ? startsAt : now + opensAfterMs;
    const closesAt = endsAfterMs === null ? endsAt : now + endsAfterMs;
    await setInventoryWindow(ctx.mysql, sku, opensAt, closesAt);
    await setSaleWindow(ctx.redis, sku, opensAt, closesAt);
    if (opensAfterMs !== null) first = Math.min(first ?? now + opensAfterMs, now + opensAfterMs);
  }
  return first;
};

/** What became of the buyers whose reply was lost, judged against the orders in MySQL. */
const lostRepliesSummary = (lost: LoadResult['lostReplies'], state: SaleState): StrategyRun['lostReplies'] => {
  if (lost.length === 0) return null;
  const orderOf = new Map(state.skus.flatMap((s) => s.orders.map((o) => [`${s.sku}/${o.userId}/${o.requestId}`, o.orderId])));
  let heldOrder = 0;
  let toldOrderId = 0;
  for (const l of lost) {
    const orderId = orderOf.get(`${l.sku}/${l.userId}/${l.requestId}`);
    if (orderId === undefined) continue;
    heldOrder += 1;
    if (l.retryOrderId === orderId) toldOrderId += 1;
  }
  return { sent: lost.length, heldOrder, toldOrderId };
};

/**
 * Pipeline processes in a fault run: a consumer that died hands its Kafka
 * partitions on after 6 s (the broker's minimum) instead of 30, and entries a
 * dead relay (or Redis-queue consumer) held are taken over after 2 s — what an
 * operator who expects crashes would set. Redelivery is absorbed by order id.
 */
const FAST_FAILOVER = ['--session-timeout', '6000', '--claim-after', '2000'];

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
    const label = runLabel(strategy, auth, acks);
    const { url, startPipeline } = await launch(ctx, scenario, strategy, processes, {
      withFaults,
      tokens: keys.tokenSecret !== null,
      jwt: keys.jwt,
      replicaAcks: acks,
    });
    // Payments need the consumer during the sale: their orders must reach MySQL to be paid.
    const pipelineAfter = ctx.pipeline === 'after' && !scenario.payment;
    if (!pipelineAfter) await startPipeline();

    const logins = keys.jwt && createBuyerTokens(keys.jwt);
    const payers = scenario.payment && { url, share: scenario.payment.payShare, authorization: logins && ((userId: string) => logins.honest(userId)) };
    const sampler = startSampler({ redis: ctx.redis, mysql: ctx.mysql, skus, usesRedis, payers });
    let result: LoadResult;
    let opensAt: number | undefined;
    try {
      opensAt = ctx.target ? undefined : await scheduleOpenings(ctx, scenario);
      // Not through faults: a restarted server or Redis starts its counters again.
      const cost = usesRedis && !ctx.target && !withFaults ? await measureRedisCost(ctx.redis, url) : null;
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
      if (pipelineAfter) await startPipeline();
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
      // The state the invariants judge is read once the server has stopped (SIGTERM lets every request
      // it holds finish, the baselines' transactions with them), so no answer is half-written.
      await processes.stop('serve');
      const state = await readSaleState(target, result);
      const invariants = judge(state, strategy, scenario, auth);
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
    if (!ctx.target && !ctx.keep) await removeSales(ctx, scenario);
  }
};

/**
 * Starts the server (unless benching a target), and says how to start the
 * pipeline behind it: relay and consumer for seckill, a consumer for a
 * baseline's payments.
 */
const launch = async (
  ctx: BenchContext,
  scenario: Scenario,
  strategy: StrategyName,
  processes: RunProcesses,
  run: { withFaults: boolean; tokens: boolean; jwt: JwtTraffic | null; replicaAcks: number },
) => {
  const usesRedis = strategy === 'seckill';
  const payTimeout = String(scenario.payment?.payTimeoutSec ?? PAY_TIMEOUT_SEC);
  // Topics of this run only: nothing a previous run left in Kafka can reach these SKUs.
  const topicPrefix = `bench-${Date.now()}-${randomBytes(2).toString('hex')}.`;
  // With replica acks the pipeline waits for replicas too: the relay forwards, and the consumer takes as written, only what a replica holds.
  const acks = run.replicaAcks > 0 ? ['--replica-acks', String(run.replicaAcks)] : [];
  const common = ['--queue', ctx.queue, '--topic-prefix', topicPrefix, ...(run.withFaults ? FAST_FAILOVER : []), ...acks];
  // A fault run may kill the server: it gets a port of its own, so the new one listens where autocannon sends.
  const port = run.withFaults ? String(await freePort()) : '0';
  const serveArgs = [
    ...['--port', port, '--strategy', strategy, '--pay-timeout', payTimeout],
    ...(run.tokens ? ['--require-token'] : []),
    // The secret travels in the env (SECKILL_JWT_SECRET), not on a command line anyone can read.
    ...(run.jwt ? ['--auth', 'jwt', '--jwt-issuer', run.jwt.issuer, '--jwt-audience', run.jwt.audience] : []),
    ...((ctx.workers ?? 1) > 1 ? ['--workers', String(ctx.workers)] : []),
    ...(usesRedis && ctx.groupCommit === false ? ['--no-group-commit'] : []),
    ...(usesRedis && ctx.ticketLeaseMs ? ['--ticket-lease', String(ctx.ticketLeaseMs)] : []),
    // An answer naming an order waits until this many replicas hold it: a failover loses none.
    ...acks,
  ];
  // Clocks that disagree: each worker takes the next offset (src/clock.ts).
  const serveEnv = scenario.clockOffsetsMs.length > 0 ? { SECKILL_CLOCK_OFFSET_MS: scenario.clockOffsetsMs.join(',') } : {};
  const url = ctx.target ?? ((await processes.start('serve', serveArgs, 0, serveEnv)).ready.listening as string);
  const startPipeline = async () => {
    if (ctx.target) return;
    if (usesRedis && ctx.queue === 'kafka') await processes.start('relay', common);
    // The baselines write orders themselves; they need a consumer only for its payment-timeout sweeper.
    if (usesRedis || scenario.payment) {
      const consumeArgs = [...(usesRedis ? common : ['--queue', 'redis']), '--pay-timeout', payTimeout, '--sweep-interval', '200'];
      const consumers = usesRedis ? (ctx.consumers ?? 1) : 1;
      for (let i = 0; i < consumers; i++) await processes.start('consume', consumeArgs, i);
    }
  };
  return { url, startPipeline };
};

/** Reads the state until it has drained, the deadline passed, or the units in flight stopped moving; which. */
const waitForDrain = async (
  read: () => Promise<SaleState>,
  scenario: Scenario,
  deadline: number,
  progress: (unitsInFlight: number) => void,
): Promise<DrainEnd> => {
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const state = await read();
    if (isDrained(state, scenario.payment !== null)) return { drained: true };
    if (Date.now() > deadline) return { drained: false, stalled: false };
    const inFlight = unitsInFlight(state);
    if (inFlight !== last) {
      last = inFlight;
      movedAt = Date.now();
    } else if (inFlight > 0 && Date.now() - movedAt > DRAIN_STALL_MS) {
      return { drained: false, stalled: true };
    }
    progress(inFlight);
    await sleep(100);
  }
};

/**
 * Units in flight that did not move for this long will not: a reservation
 * whose outbox entry was lost, a pipeline that is stuck. Longer than any
 * redelivery takes (a dead relay's entries are claimed after 2 s in a fault
 * run, a dead consumer's partitions move after 6 s).
 */
const DRAIN_STALL_MS = 30_000;

type DrainEnd = { drained: true } | { drained: false; stalled: boolean };

/** The invariants a run of this strategy answers to. The ceiling stores nothing: there is no sale to check. */
const judge = (state: SaleState, strategy: StrategyName, scenario: Scenario, auth: AuthMode): InvariantResult[] => {
  if (strategy === 'ceiling') return [];
  const invariants = checkInvariants(state);
  if (scenario.bots.noToken > 0) invariants.push(botsHoldNothing(state));
  if (scenario.bots.badIdentity > 0 && auth === 'jwt') invariants.push(impostorsHoldNothing(state));
  return invariants;
};

/** The run's figures, from what the load generator saw and the state judged. */
const summarize = (
  strategy: StrategyName,
  auth: AuthMode,
  replicaAcks: number,
  result: LoadResult,
  state: SaleState,
  run: Pick<StrategyRun, 'invariants' | 'drained' | 'stockTimeline' | 'faults' | 'afterFaults' | 'redisCost'> & { opensAt: number | undefined },
): StrategyRun => {
  const usesRedis = state.usesRedis;
  const lastPersisted = Math.max(0, ...state.skus.flatMap((s) => s.reservations.map((r) => r.persistedAt ?? 0)));
  const soldOutTimes = Object.values(result.firstSoldOutMs);
  const sellOutMs = soldOutTimes.length ? Math.min(...soldOutTimes) : null;
  return {
    strategy,
    auth,
    replicaAcks,
    label: runLabel(strategy, auth, replicaAcks),
    rps: result.rps,
    p50Ms: result.latency.p50Ms,
    p90Ms: result.latency.p90Ms,
    p99Ms: result.latency.p99Ms,
    maxMs: result.latency.maxMs,
    requests: result.requests,
    durationMs: result.durationMs,
    errors: result.errors + result.timeouts,
    outcomes: result.outcomes,
    sold: state.skus.reduce((n, s) => n + liveUnits(s), 0),
    stock: state.skus.reduce((n, s) => n + s.mysqlStock, 0),
    drift: usesRedis ? state.skus.reduce((n, s) => n + (driftOf(s) ?? 0), 0) : null,
    sellOutMs,
    afterSellOutRps: sellOutMs === null ? null : rateAfter(result.timeline, sellOutMs),
    drainMs: usesRedis && result.lastOkAt !== null ? Math.max(0, lastPersisted - result.lastOkAt) : 0,
    drained: run.drained,
    invariants: run.invariants,
    latencyPercentiles: result.latencyPercentiles,
    timeline: result.timeline,
    stockTimeline: run.stockTimeline,
    faults: run.faults,
    afterFaults: run.afterFaults,
    beforeOpening: run.opensAt === undefined ? null : result.beforeOpening,
    lostReplies: lostRepliesSummary(result.lostReplies, state),
    redisCost: run.redisCost,
  };
};

/**
 * The run's sale is gone once it has been judged: its PENDING orders would
 * otherwise be cancelled by any later consumer's sweeper on this Redis and
 * MySQL, and reconcile would report it for ever.
 */
const removeSales = async (ctx: BenchContext, scenario: Scenario): Promise<void> => {
  for (const { sku } of scenario.skus) {
    await deleteSkuRecord(ctx.mysql, sku);
    await removeSkuFromRedis(ctx.redis, sku);
  }
};

/** Mean answers a second over the whole buckets after the one holding `ms` (the last, partial, bucket left out). */
const rateAfter = (timeline: TimelinePoint[], ms: number): number | null => {
  const buckets = timeline.slice(Math.floor(ms / TIMELINE_BUCKET_MS) + 1, -1);
  if (buckets.length === 0) return null;
  const answers = buckets.reduce((n, p) => n + Object.values(p.outcomes).reduce((a, b) => a + b, 0), 0);
  return (answers / (buckets.length * TIMELINE_BUCKET_MS)) * 1000;
};

/**
 * The answers from `at` (ms since epoch) to the end of the load, by outcome:
 * the timeline's buckets that start at or after it (a bucket it falls inside
 * is left out, so nothing answered before `at` is counted).
 */
const answersAfter = (result: LoadResult, at: number): NonNullable<StrategyRun['afterFaults']> => {
  const fromMs = Math.max(0, at - result.startedAt);
  const outcomes: Record<string, number> = {};
  for (const point of result.timeline) {
    if (point.atMs < fromMs) continue;
    for (const [outcome, n] of Object.entries(point.outcomes)) outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
  }
  return { fromMs, outcomes };
};

/**
 * Stock samples on the load's clock (the sampler reads wall-clock time, the
 * load generator starts its own zero), from the last one read before the load
 * started: the stock it started with, not the load generator's start-up.
 */
const stockSince = (samples: StockSample[], startedAt: number): StockPoint[] => {
  const first = Math.max(0, samples.findIndex((s) => s.at > startedAt) - 1);
  return samples.slice(first).map(({ at, ...stock }) => ({ atMs: at - startedAt, ...stock }));
};
