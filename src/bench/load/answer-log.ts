/**
 * What the load generator learns from each answer, whichever crowd sent the
 * request (the closed loop's autocannon, or the open crowd's scheduler): the
 * outcomes, the order ids the judge checks, the timeline, the lost replies
 * the mix asks for, and every answer's latency in an HDR histogram. Both
 * crowds hand it the same things and get the same LoadResult back.
 */
import * as hdr from 'hdr-histogram-js';
import { orderIdOf, outcomeOf } from './answers.js';
import {
  LATENCY_PERCENTILES,
  TIME_SLOT_MS,
  type Answer,
  type CrowdFigures,
  type LatencyFigures,
  type LoadPlan,
  type AnswerSample,
  type LoadResult,
  type TimelinePoint,
} from './load-plan.js';
import { createLostReplies } from './lost-replies.js';
import type { BuyAttempt } from './traffic.js';

/**
 * Latencies in µs, 3 significant digits (1 ms told from 1.001 ms), up to an
 * hour: an HDR histogram keeps every answer at a fixed cost, where a sorted
 * array of 60,000 would grow with the run.
 */
export const latencyHistogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
type Histogram = ReturnType<typeof latencyHistogram>;

const msAt = (h: Histogram, p: number): number => (h.totalCount === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
/** p50/p90/p99/max of a histogram of µs, in ms. */
const latencyFigures = (h: Histogram): LatencyFigures => ({
  p50: msAt(h, 50),
  p90: msAt(h, 90),
  p99: msAt(h, 99),
  max: h.totalCount === 0 ? 0 : h.maxValue / 1000,
});

const slotPercentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** One answer, as the crowd saw it. Times are performance.now() ms of the load process. */
export interface AnsweredRequest {
  attempt: BuyAttempt;
  status: number;
  body: string;
  /** the answer's headers */
  headers: Record<string, string | string[] | undefined>;
  /** when the request should have gone out: its arrival time (the closed loop: when it went out) */
  intendedAt: number;
  /** when it went out */
  sentAt: number;
  answeredAt: number;
  /** sent before a scheduled sale's opening */
  beforeOpening: boolean;
}

export const createAnswerLog = (plan: LoadPlan) => {
  const lost = createLostReplies(plan.url);
  // One lost reply after every this many answers: the share of the traffic the mix asks for.
  const lostEvery = plan.traffic.lostReplies > 0 ? Math.max(1, Math.round(1 / plan.traffic.lostReplies)) : 0;
  let sinceLost = 0;
  const outcomes: Record<string, number> = {};
  const admissionClosed: Record<string, number> = {};
  const beforeOpening: Record<string, number> = {};
  const answers: Answer[] = [];
  const firstSoldOutMs: Record<string, number> = {};
  const slots: { outcomes: Record<string, number>; latencies: number[] }[] = [];
  const fromIntended = latencyHistogram();
  const fromSend = latencyHistogram();
  let lastOkAt: number | null = null;
  let count = 0;
  let serverErrors = 0;
  // The first answer of each status and outcome, whole: what a test holds to openapi.json.
  const samples = new Map<string, AnswerSample>();
  const started = performance.now();
  const startedAt = Date.now();
  const cpuAtStart = process.cpuUsage();

  /** Records one answer; `freshBuyer` gives the next buyer whose reply is lost, when the mix asks for one. */
  const record = (a: AnsweredRequest, freshBuyer: () => BuyAttempt): void => {
    const { attempt, status, body } = a;
    const latency = a.answeredAt - a.intendedAt;
    const outcome = outcomeOf(status, body);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    count += 1;
    if (status >= 500) serverErrors += 1;
    const kind = `${status} ${outcome}`;
    if (!samples.has(kind)) {
      const headers = Object.fromEntries(Object.entries(a.headers).map(([name, value]) => [name.toLowerCase(), value]));
      samples.set(kind, { status, headers, body, requestBody: attempt.body, signedIn: attempt.authorization !== null });
    }
    fromIntended.recordValue(Math.max(1, Math.round(latency * 1000)));
    fromSend.recordValue(Math.max(1, Math.round((a.answeredAt - a.sentAt) * 1000)));
    const slot = (slots[Math.floor((a.answeredAt - started) / TIME_SLOT_MS)] ??= { outcomes: {}, latencies: [] });
    slot.outcomes[outcome] = (slot.outcomes[outcome] ?? 0) + 1;
    slot.latencies.push(latency);
    if (status === 201) lastOkAt = Date.now();
    if (outcome === 'ADMISSION_CLOSED') admissionClosed[attempt.sku] = (admissionClosed[attempt.sku] ?? 0) + 1;
    if (a.beforeOpening) beforeOpening[outcome] = (beforeOpening[outcome] ?? 0) + 1;
    if (outcome === 'SOLD_OUT' && firstSoldOutMs[attempt.sku] === undefined) {
      firstSoldOutMs[attempt.sku] = a.answeredAt - started;
      lost.soldOut(attempt.sku);
    }
    if (lostEvery > 0 && ++sinceLost >= lostEvery) {
      sinceLost = 0;
      const buyer = freshBuyer();
      lost.send(buyer, firstSoldOutMs[buyer.sku] !== undefined);
    }
    if (status === 201 || status === 409) {
      const orderId = orderIdOf(body);
      if (orderId) answers.push({ sku: attempt.sku, userId: attempt.userId, requestId: attempt.requestId, status, orderId });
    }
  };

  const timeline = (): TimelinePoint[] =>
    Array.from(slots, (slot = { outcomes: {}, latencies: [] }, i) => {
      const l = Float64Array.from(slot.latencies).sort();
      const answered = l.length > 0;
      return {
        atMs: i * TIME_SLOT_MS,
        outcomes: slot.outcomes,
        p50Ms: answered ? slotPercentile(l, 50) : null,
        p99Ms: answered ? slotPercentile(l, 99) : null,
      };
    });

  /**
   * The load is over: every lost reply's retry is awaited and the result put
   * together. `unread`: requests sent whose outcome was never learned.
   */
  const finish = async (end: {
    errors: number;
    timeouts: number;
    unread: BuyAttempt[];
    crowd: Omit<CrowdFigures, 'latencyFromIntendedMs' | 'latencyFromSendMs'>;
  }): Promise<LoadResult> => {
    const durationMs = performance.now() - started;
    const lostReplies = await lost.finish();
    const intended = latencyFigures(fromIntended);
    const cpu = process.cpuUsage(cpuAtStart);
    return {
      startedAt,
      cpuMicros: cpu.user + cpu.system,
      requests: count,
      durationMs,
      rps: (count / durationMs) * 1000,
      latency: { p50Ms: intended.p50, p90Ms: intended.p90, p99Ms: intended.p99, maxMs: intended.max },
      latencyPercentiles: LATENCY_PERCENTILES.map((p) => ({ percentile: p, ms: p === 100 ? intended.max : msAt(fromIntended, p) })),
      crowd: { ...end.crowd, latencyFromIntendedMs: intended, latencyFromSendMs: latencyFigures(fromSend) },
      outcomes,
      errors: end.errors,
      timeouts: end.timeouts,
      serverErrors,
      answerSamples: [...samples.values()],
      // A retry told its order id is an answer like any other.
      answers: [
        ...answers,
        ...lostReplies.flatMap((l) =>
          l.retryOrderId === null
            ? []
            : [{ sku: l.sku, userId: l.userId, requestId: l.requestId, status: l.retryOutcome === 'OK' ? 201 : 409, orderId: l.retryOrderId }],
        ),
      ],
      // A lost reply whose retry got no answer either never learned its outcome.
      unread: [...end.unread, ...lostReplies.filter((l) => l.retryOutcome === null)].map(({ sku, userId, requestId }) => ({ sku, userId, requestId })),
      lastOkAt,
      firstSoldOutMs,
      admissionClosed,
      beforeOpening,
      lostReplies,
      timeline: timeline(),
    };
  };

  /** A progress line's figures, once a second. */
  const progress = () => ({ requests: count, seconds: (performance.now() - started) / 1000, outcomes });

  return { record, finish, progress, started };
};
