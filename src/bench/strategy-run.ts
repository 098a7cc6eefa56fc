import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import type { QueueKind } from '../config.js';
import type { StrategyName } from '../gateway/strategies/strategy.js';
import { removeSkuFromRedis, setSaleWindow } from '../sale/catalog.js';
import { putOnSale } from '../sale/put-on-sale.js';
import { deleteSkuRecord, inventoryRecord, setInventoryWindow, totalMysqlStock } from '../store/inventory.js';
import { pendingOrders, readSkuRecord } from '../store/orders.js';
import { driftOf, liveUnits } from '../sale/state.js';
import { FaultError, injectFaults, type BrokerControl, type FaultKind, type FaultRun, type FaultTargets, type ProcessRole } from './faults.js';
import { checkInvariants } from './invariants.js';
import { runLoad, type LoadProgress } from './load.js';
import type { LoadResult, TimelinePoint } from './load-plan.js';
import type { OwnRedis } from './own-redis.js';
import { freePort } from './ports.js';
import { startSeckillProcess, type SeckillProcess } from './processes.js';
import { loadPlanOf } from './traffic.js';
import { isDrained, readSaleState, totalRedisStock, unitsInFlight } from './read-state.js';
import type { InvariantResult, SaleState } from './sale-state.js';
import type { Scenario } from './scenario.js';

export interface BenchContext {
  redis: Redis;
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
}

export interface StockPoint {
  second: number;
  redis: number | null;
  mysql: number;
}

export interface StrategyRun {
  strategy: StrategyName;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
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
  /** answers a second once the first SKU sold out (whole seconds after it, the last partial second left out); null if none did */
  afterSellOutRps: number | null;
  /**
   * ms from the last 201 to the last order written to MySQL: how far the
   * record trails the sale (0 for the baselines, which write it before answering)
   */
  drainMs: number;
  drained: boolean;
  invariants: InvariantResult[];
  timeline: TimelinePoint[];
  stockTimeline: StockPoint[];
  /** faults injected during this run, by kind (empty without faults, and for the baselines) */
  faults: Partial<Record<FaultKind, number>>;
  /** a scheduled sale: answers to requests sent before the opening, by outcome; null when the sale was open from the start */
  beforeOpening: Record<string, number> | null;
  /** buyers whose reply was lost: how many, how many held an order, how many of those their retry told it; null when none */
  lostReplies: { sent: number; heldOrder: number; toldOrderId: number } | null;
}


/** Bots that posted without a purchase token (users `bot<n>`) must hold nothing: no order, no reservation. */
const botsHoldNothing = (state: SaleState): InvariantResult => {
  const held = state.skus.flatMap((s) => [...s.orders, ...s.reservations].filter((o) => o.userId.startsWith('bot')).map((o) => `${o.userId}: ${o.orderId}`));
  return {
    name: 'bots-without-token-hold-nothing',
    ok: held.length === 0,
    detail: held.length === 0 ? 'no order or reservation of a bot without a token' : `bots hold ${held.length}: ${held.slice(0, 5).join(', ')}`,
  };
};

/** A deterministic share of orders is paid: the same orders in every run of a seed. */
const isPayer = (orderId: string, share: number): boolean => {
  let h = 2166136261;
  for (let i = 0; i < orderId.length; i++) h = Math.imul(h ^ orderId.charCodeAt(i), 16777619);
  return (h >>> 0) / 4_294_967_296 < share;
};

/** A scheduled SKU is put on sale closed until the load starts and schedules its opening. */
const NOT_YET_MS = 3_600_000;

/** Puts the scenario's SKUs on sale afresh: orders, reservations, outbox and counters gone. */
export const resetSale = async (ctx: BenchContext, scenario: Scenario): Promise<void> => {
  const defs = scenario.skus.map(({ weight: _weight, opensAfterMs, ...def }) => (opensAfterMs === null ? def : { ...def, startsAt: Date.now() + NOT_YET_MS }));
  await putOnSale(ctx.redis, inventoryRecord(ctx.mysql), defs, { reset: true });
};

/** Opens each scheduled SKU `opensAfter` from now, in both stores; returns the first opening (ms since epoch), if any. */
const scheduleOpenings = async (ctx: BenchContext, scenario: Scenario): Promise<number | undefined> => {
  const now = Date.now();
  let first: number | undefined;
  for (const { sku, opensAfterMs, endsAt } of scenario.skus) {
    if (opensAfterMs === null) continue;
    const opensAt = now + opensAfterMs;
    await setInventoryWindow(ctx.mysql, sku, opensAt, endsAt);
    await setSaleWindow(ctx.redis, sku, opensAt, endsAt);
    first = Math.min(first ?? opensAt, opensAt);
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
 * drain, read the state, check every invariant, stop.
 */
export const runStrategy = async (ctx: BenchContext, scenario: Scenario, strategy: StrategyName): Promise<StrategyRun> => {
  if (!ctx.target) await resetSale(ctx, scenario);
  const usesRedis = strategy === 'seckill';
  const skus = scenario.skus.map((s) => s.sku);
  const payTimeout = String(scenario.payment?.payTimeoutSec ?? 900);
  // Topics of this run only: nothing a previous run left in Kafka can reach these SKUs.
  const topicPrefix = `bench-${Date.now()}-${randomBytes(2).toString('hex')}.`;
  const note = ctx.note ?? ctx.progress;
  const withFaults = strategy === 'seckill' && scenario.faults.length > 0 && !ctx.target;
  if (scenario.faults.length > 0 && strategy !== 'seckill') note(`${strategy}: the scenario's faults apply to the seckill strategy only; this run has none`);
  const common = ['--queue', ctx.queue, '--topic-prefix', topicPrefix, ...(withFaults ? FAST_FAILOVER : [])];
  // Each running process by its role, with the command line a fault restarts it with.
  const running = new Map<ProcessRole, { args: string[]; process: SeckillProcess }>();
  // With purchase tokens: a secret of this run's, known to the server and to the honest buyers only.
  const tokenSecret = scenario.tokens ? randomBytes(24).toString('base64url') : null;
  const env = tokenSecret === null ? ctx.env : { ...ctx.env, SECKILL_SECRET: tokenSecret };
  const start = async (role: ProcessRole, args: string[]): Promise<SeckillProcess> => {
    const started = await startSeckillProcess(role, args, env);
    running.set(role, { args, process: started });
    return started;
  };
  const stopAll = async () => {
    const all = [...running.values()];
    running.clear();
    await Promise.all(all.map((r) => r.process.stop()));
  };
  let faultRun: FaultRun | null = null;

  try {
    // A fault run may kill the server: it gets a port of its own, so the new one listens where autocannon sends.
    const port = withFaults ? String(await freePort()) : '0';
    const url = ctx.target ?? ((await start('serve', ['--port', port, '--strategy', strategy, '--pay-timeout', payTimeout, ...(tokenSecret ? ['--require-token'] : [])])).ready.listening as string);
    const startPipeline = async () => {
      if (ctx.target) return;
      if (usesRedis && ctx.queue === 'kafka') await start('relay', common);
      // The baselines write orders themselves; they need a consumer only for its payment-timeout sweeper.
      if (usesRedis || scenario.payment) {
        await start('consume', [...(usesRedis ? common : ['--queue', 'redis']), '--pay-timeout', payTimeout, '--sweep-interval', '200']);
      }
    };
    const targets: FaultTargets = {
      kill: async (role) => {
        const r = running.get(role);
        if (!r) throw new FaultError(`no ${role} process is running to kill`);
        const pid = r.process.process.pid!;
        await r.process.stop('SIGKILL');
        return pid;
      },
      start: async (role) => {
        const r = running.get(role);
        if (!r) throw new FaultError(`no ${role} process was started: nothing to start again`);
        return (await start(role, r.args)).process.pid!;
      },
      pid: (role) => running.get(role)?.process.process.pid ?? null,
      kafka: ctx.kafkaControl ?? null,
      redis: ctx.ownRedis ?? null,
      mysqlUrl: ctx.env.MYSQL_URL,
    };
    // Payments need the consumer during the sale: their orders must reach MySQL to be paid.
    const pipelineAfter = ctx.pipeline === 'after' && !scenario.payment;
    if (!pipelineAfter) await startPipeline();

    const stockTimeline: StockPoint[] = [];
    const paid = new Set<string>();
    let started = Date.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          const [redisStock, mysqlStock] = await Promise.all([usesRedis ? totalRedisStock(ctx.redis, skus) : null, totalMysqlStock(ctx.mysql, skus)]);
          stockTimeline.push({ second: (Date.now() - started) / 1000, redis: redisStock, mysql: mysqlStock });
          if (scenario.payment) await payOrders(url, ctx.mysql, skus, scenario.payment.payShare, paid);
        } catch {
          // A fault took down what this sample reads (or the server a payment goes to): the next one tries again.
        }
        await sleep(250);
      }
    })();

    const opensAt = ctx.target ? undefined : await scheduleOpenings(ctx, scenario);
    started = Date.now();
    if (withFaults) faultRun = injectFaults(scenario.faults, targets, (line) => note(`${strategy}: ${line}`), started);
    let result: LoadResult;
    try {
      result = await runLoad(
        loadPlanOf(url, scenario, ctx.load, ctx.seed, tokenSecret, opensAt),
        (p: LoadProgress) => ctx.progress(`${strategy}: ${p.seconds.toFixed(0)}s, ${p.requests.toLocaleString('en')} requests, ${p.outcomes.OK ?? 0} sold`),
      );
    } catch (error) {
      sampling = false;
      await sampler;
      throw error;
    }

    const loadEnded = Date.now();
    if (pipelineAfter) await startPipeline();
    if (faultRun) {
      ctx.progress(`${strategy}: waiting for the faults to fire and recover`);
      try {
        await faultRun.done;
      } catch (error) {
        sampling = false;
        await sampler;
        throw error;
      }
    }
    const drainSec = faultRun ? Math.max(scenario.drainTimeoutSec, FAULT_DRAIN_MIN_SEC) : scenario.drainTimeoutSec;
    const deadline = (faultRun ? Date.now() : loadEnded) + drainSec * 1000;
    const target = { redis: ctx.redis, readRecord: (sku: string) => readSkuRecord(ctx.mysql, sku), usesRedis, skus: skus.map((sku) => ({ sku, expectSellOut: scenario.expect.sellOut })) };
    const readState = () => readSaleState(target, result);
    let state: SaleState;
    let drained: boolean;
    for (;;) {
      state = await readState();
      drained = isDrained(state, scenario.payment !== null);
      if (drained || Date.now() > deadline) break;
      ctx.progress(`${strategy}: draining, ${unitsInFlight(state)} unit(s) on their way to MySQL`);
      await sleep(100);
    }
    // The state the invariants judge is read once the server has stopped (SIGTERM lets every request
    // it holds finish, the baselines' transactions with them), so no answer is half-written.
    await running.get('serve')?.process.stop();
    state = await readState();
    const lastPersisted = Math.max(0, ...state.skus.flatMap((s) => s.reservations.map((r) => r.persistedAt ?? 0)));
    const drainMs = usesRedis && result.lastOkAt !== null ? Math.max(0, lastPersisted - result.lastOkAt) : 0;
    sampling = false;
    await sampler;

    const soldOutTimes = Object.values(result.firstSoldOutMs);
    const sellOutMs = soldOutTimes.length ? Math.min(...soldOutTimes) : null;
    // The ceiling answers without storing anything: there is no sale to check.
    const invariants = strategy === 'ceiling' ? [] : checkInvariants(state);
    if (strategy !== 'ceiling' && scenario.bots.noToken > 0) invariants.push(botsHoldNothing(state));
    if (!drained) invariants.push({ name: 'drained', ok: false, detail: `not drained ${drainSec} s after the load ended${faultRun ? ' and the faults recovered' : ''}` });
    return {
      strategy,
      rps: result.rps,
      p50Ms: result.latency.p50Ms,
      p90Ms: result.latency.p90Ms,
      p99Ms: result.latency.p99Ms,
      maxMs: result.latency.maxMs,
      requests: result.requests,
      errors: result.errors + result.timeouts,
      outcomes: result.outcomes,
      sold: state.skus.reduce((n, s) => n + liveUnits(s), 0),
      stock: state.skus.reduce((n, s) => n + s.mysqlStock, 0),
      drift: usesRedis ? state.skus.reduce((n, s) => n + (driftOf(s) ?? 0), 0) : null,
      sellOutMs,
      afterSellOutRps: sellOutMs === null ? null : rateAfter(result.timeline, sellOutMs),
      drainMs,
      drained,
      invariants,
      timeline: result.timeline,
      stockTimeline,
      faults: { ...faultRun?.counts },
      beforeOpening: opensAt === undefined ? null : result.beforeOpening,
      lostReplies: lostRepliesSummary(result.lostReplies, state),
    };
  } finally {
    if (faultRun) {
      // The run is over (or failed): nothing more fires, and a restart in progress finishes before everything stops.
      faultRun.cancel();
      await faultRun.done.catch(() => {});
    }
    await stopAll();
    if (!ctx.target && !ctx.keep) await removeSales(ctx, scenario);
  }
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

/** Mean answers a second over the whole seconds after `ms` (the last, partial, second left out). */
const rateAfter = (timeline: TimelinePoint[], ms: number): number | null => {
  const seconds = timeline.slice(Math.floor(ms / 1000) + 1, -1);
  if (seconds.length === 0) return null;
  return seconds.reduce((n, p) => n + Object.values(p.outcomes).reduce((a, b) => a + b, 0), 0) / seconds.length;
};

/** The paying buyers: pay their share of the PENDING orders, each once. */
const payOrders = async (url: string, mysql: Pool, skus: string[], share: number, paid: Set<string>): Promise<void> => {
  const due = (await pendingOrders(mysql, skus)).filter((o) => !paid.has(o.orderId) && isPayer(o.orderId, share));
  await Promise.all(
    due.map(async (o) => {
      paid.add(o.orderId);
      await fetch(`${url}/orders/${o.orderId}/pay`, { method: 'POST', body: JSON.stringify({ userId: o.userId }) });
    }),
  );
};
