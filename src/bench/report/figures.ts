/**
 * A run's figures, as reports show them: what the load generator saw and
 * what the judged sale holds, put together once the run is over.
 */
import type { AuthMode } from '../../config.js';
import type { StrategyName } from '../../gateway/strategies/strategy.js';
import { driftOf, liveUnits } from '../../sale/state.js';
import type { FaultKind } from '../faults/kinds.js';
import type { ArrivalModel } from '../load/arrivals.js';
import { TIME_SLOT_MS, type CrowdFigures, type AnswerSample, type LatencyPercentile, type LoadResult, type TimelinePoint } from '../load/load-plan.js';
import type { RedisCost } from './redis-cost.js';
import type { ProcessCost } from './process-cost.js';
import type { StockPoint, StockSample } from './sampler.js';
import type { InvariantResult, SaleState } from '../judge/judged-sale.js';

export interface StrategyRun {
  strategy: StrategyName;
  /** who buyers were (serve --auth) */
  auth: AuthMode;
  /** serve --replica-acks of the run: replicas that held each answer naming an order before it was given (0 for the baselines) */
  replicaAcks: number;
  /** how the crowd arrived: closed (each connection sends again once answered), or an open crowd's shape (constant, ramp, spike) */
  arrival: ArrivalModel;
  /**
   * the run's name in reports: the strategy, `+jwt` when buyers signed in
   * (bench --auth none,jwt runs both), `+acks1` when the server waited for a
   * replica (bench --replica-acks 0,1 runs both), `+spike` (`+constant`,
   * `+ramp`) when an open crowd arrived (bench --arrival closed,spike runs both)
   */
  label: string;
  rps: number;
  /**
   * the crowd's figures, under names that stay (thresholds read them):
   * crowd.intended, crowd.sent, crowd.dropped,
   * crowd.latencyFromIntendedMs.{p50,p90,p99,max},
   * crowd.latencyFromSendMs.{…}, crowd.behindScheduleMs.{p99,max}, crowd.warning
   */
  crowd: CrowdFigures;
  /** every answer's latency from its intended send (the closed loop: from its send); the same as crowd.latencyFromIntendedMs */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  /** how long the load lasted, ms */
  durationMs: number;
  /** requests that got no answer: connection errors and timeouts */
  errors: number;
  /** answers with a 5xx status: the server could not say what became of the request */
  serverErrors: number;
  outcomes: Record<string, number>;
  /** units in orders that are not cancelled */
  sold: number;
  /** MySQL stock at the end (all SKUs) */
  stock: number;
  /** Redis stock + in flight − MySQL stock, summed over SKUs; null without Redis */
  drift: number | null;
  /** ms from the start of the load to the first SOLD_OUT answer (first SKU to sell out); null if none did */
  sellOutMs: number | null;
  /** answers a second once the first SKU sold out (the timeline's time slots after it, the last partial one left out); null if none did or none is left */
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
  /** answers and latency per TIME_SLOT_MS */
  timeline: TimelinePoint[];
  /** stock in both stores, sampled every TIME_SLOT_MS, on the timeline's clock */
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
  /** the first answer of each status and outcome the buyers got, whole, with its request: what openapi.json must describe */
  answerSamples: AnswerSample[];
  /** CPU µs per answer of each kind of process over the load and its drain; null with faults and for --target */
  processCost: ProcessCost | null;
}

/** The run's name in reports. */
export const runLabel = (strategy: StrategyName, auth: AuthMode, replicaAcks = 0, arrival: ArrivalModel = 'closed'): string =>
  `${strategy}${auth === 'jwt' ? '+jwt' : ''}${replicaAcks > 0 ? `+acks${replicaAcks}` : ''}${arrival === 'closed' ? '' : `+${arrival}`}`;

/** The run's figures, from what the load generator saw and the state judged. */
export const summarize = (
  strategy: StrategyName,
  auth: AuthMode,
  replicaAcks: number,
  result: LoadResult,
  state: SaleState,
  run: Pick<StrategyRun, 'invariants' | 'drained' | 'stockTimeline' | 'faults' | 'afterFaults' | 'redisCost' | 'processCost'> & { opensAt: number | undefined },
): StrategyRun => {
  const usesRedis = state.usesRedis;
  const lastPersisted = Math.max(0, ...state.skus.flatMap((s) => s.reservations.map((r) => r.persistedAt ?? 0)));
  const soldOutTimes = Object.values(result.firstSoldOutMs);
  const sellOutMs = soldOutTimes.length ? Math.min(...soldOutTimes) : null;
  return {
    strategy,
    auth,
    replicaAcks,
    arrival: result.crowd.model,
    label: runLabel(strategy, auth, replicaAcks, result.crowd.model),
    rps: result.rps,
    crowd: result.crowd,
    p50Ms: result.latency.p50Ms,
    p90Ms: result.latency.p90Ms,
    p99Ms: result.latency.p99Ms,
    maxMs: result.latency.maxMs,
    requests: result.requests,
    durationMs: result.durationMs,
    errors: result.errors + result.timeouts,
    serverErrors: result.serverErrors,
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
    processCost: run.processCost,
    answerSamples: result.answerSamples,
  };
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

/** Mean answers a second over the whole time slots after the one holding `ms` (the last, partial, slot left out). */
const rateAfter = (timeline: TimelinePoint[], ms: number): number | null => {
  const slots = timeline.slice(Math.floor(ms / TIME_SLOT_MS) + 1, -1);
  if (slots.length === 0) return null;
  const answers = slots.reduce((n, p) => n + Object.values(p.outcomes).reduce((a, b) => a + b, 0), 0);
  return (answers / (slots.length * TIME_SLOT_MS)) * 1000;
};

/**
 * The answers from `at` (ms since epoch) to the end of the load, by outcome:
 * the timeline's time slots that start at or after it (a slot it falls inside
 * is left out, so nothing answered before `at` is counted).
 */
export const answersAfter = (result: LoadResult, at: number): NonNullable<StrategyRun['afterFaults']> => {
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
export const stockSince = (samples: StockSample[], startedAt: number): StockPoint[] => {
  const first = Math.max(0, samples.findIndex((s) => s.at > startedAt) - 1);
  return samples.slice(first).map(({ at, ...stock }) => ({ atMs: at - startedAt, ...stock }));
};
