/** What the load process is asked to send, and what it reports back. Crosses a process boundary (IPC). */
import type { Arrival, ArrivalModel } from './arrivals.js';
import type { JwtTraffic } from './buyer-tokens.js';

export interface TrafficMix {
  /** SKUs buyers ask for, with relative weights */
  skus: { sku: string; weight: number }[];
  /** distinct buyers in the population (user ids u0 … u{n-1}) */
  buyers: number;
  /** units per request */
  qty: number;
  /** share of requests that resend an earlier request id of the same buyer (a client retry) */
  retries: number;
  /** share of requests from buyers who already bought, with a new request id (hammering past the limit) */
  hammer: number;
  /** share of requests for a SKU that was never loaded */
  unknownSku: number;
  /** share of requests with a malformed body */
  badBody: number;
  /** share of requests from bots (users `bot<n>`) that post without a purchase token, or with a forged one */
  noToken: number;
  /**
   * with `jwt`: share of requests from impostors (users `fake<n>`, request
   * ids `fake<n>-<kind>`) whose bearer token is missing, expired, forged, for
   * another audience or issuer, or their own while the body names an honest
   * buyer (buyer-tokens.ts)
   */
  badIdentity: number;
  /**
   * share of requests whose reply is lost: a buyer's first attempt sent
   * whole on a connection of its own, which is dropped as the answer
   * arrives (never read); the buyer retries with the same request id once
   * the SKU has sold out (or the load ends)
   */
  lostReplies: number;
  /**
   * when the server requires purchase tokens: the secret it signs them with.
   * Honest buyers carry a valid token, as if they had fetched it from
   * GET /sales/:sku/token; the load generator signs it itself rather than
   * spend a request on it.
   */
  tokenSecret: string | null;
  /**
   * when the server checks who buyers are (--auth jwt): what it checks.
   * Honest buyers carry a bearer token signed with its secret, as the shop's
   * login would have given them; the load generator signs each buyer's once.
   */
  jwt: JwtTraffic | null;
}

export interface LoadPlan {
  url: string;
  connections: number;
  /** stop after this many requests … */
  amount: number;
  /** … or after this many seconds, whichever comes first */
  durationSec: number;
  /** requests a second over all connections, on a schedule whatever the server does; absent: each connection sends again once answered */
  rate?: number;
  /**
   * an open crowd: requests arrive at the times this gives, whatever the
   * server does, on a pool of `connections` keep-alive connections (a request
   * due while all are busy waits for one, timed from its arrival); absent:
   * the closed loop
   */
  arrival?: Arrival;
  /** an open crowd's requests in flight, on a connection or waiting for one; a request due past it is dropped. Default: 10 a connection */
  maxInFlight?: number;
  /** an open crowd's request still unanswered this long after it went out is given up (a timeout); default 10 */
  timeoutSec?: number;
  seed: number;
  traffic: TrafficMix;
  /** when a scheduled sale opens (ms since epoch): answers to requests sent before it are also counted apart */
  opensAt?: number;
}

/** A request whose reply was lost, and what its retry with the same request id was told. */
export interface LostReply {
  sku: string;
  userId: string;
  requestId: string;
  /** the retry's outcome (OK, DUPLICATE, SOLD_OUT, …), null when the retry got no answer either */
  retryOutcome: string | null;
  /** the order id the retry carried, if any */
  retryOrderId: string | null;
}

/** One 201 or 409 answer that carried an order id. */
export interface Answer {
  sku: string;
  userId: string;
  requestId: string;
  status: number;
  orderId: string;
}

/**
 * The timeline's resolution. A flash-1000 sale sells out in 300–1,000 ms
 * here: per-second points would make the moment the report exists to show
 * one point.
 */
export const TIME_SLOT_MS = 100;

/**
 * The latency distribution is reported at these percentiles: enough for the
 * curve's tail (99.9 and beyond is where a hot row's queue shows), small
 * enough for the JSON report.
 */
export const LATENCY_PERCENTILES = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100] as const;

export interface TimelinePoint {
  /** start of the time slot, ms since the load started (slots are TIME_SLOT_MS wide) */
  atMs: number;
  /** answers in this time slot by outcome (OK, SOLD_OUT, LIMIT, …) */
  outcomes: Record<string, number>;
  /** latency percentiles of the answers in this time slot; null when none was answered in it */
  p50Ms: number | null;
  p99Ms: number | null;
}

/** One point of the latency distribution: `percentile` % of the answers took at most `ms`. */
export interface LatencyPercentile {
  percentile: number;
  ms: number;
}

/** A latency distribution's figures, ms. */
export interface LatencyFigures {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * How the crowd arrived and what it could send: the figures an open crowd
 * adds, under names that stay (bench --json's `runs[].crowd`; thresholds read
 * them). The closed loop has them too: each request is intended when it goes
 * out, and none is dropped.
 */
export interface CrowdFigures {
  /** closed (each connection sends again once answered), or the open crowd's shape: constant, ramp, spike */
  model: ArrivalModel;
  /** the arrival in a few words ("spike to 4,000/s in 100 ms, …") */
  arrival: string;
  /** requests the arrivals asked for (the closed loop: those it sent) */
  intended: number;
  /** requests handed to the connection pool (one that waited for a connection went out late, and is timed from its arrival all the same) */
  sent: number;
  /** requests due while maxInFlight were in flight: never sent, and counted here rather than hidden */
  dropped: number;
  /** every answer's latency from when its request should have gone out (its arrival): what a buyer waits */
  latencyFromIntendedMs: LatencyFigures;
  /** every answer's latency from when its request went out on a connection: what a closed loop sees, and hides a stall with */
  latencyFromSendMs: LatencyFigures;
  /** the open crowd: how late the generator itself sent the requests it sent (its CPU, its event loop); null for the closed loop */
  behindScheduleMs: { p99: number; max: number } | null;
  /** set when the generator could not keep its own schedule: its figures are then the generator's as much as the server's */
  warning: string | null;
}

/** One answer as the buyer got it, with the request it answered: what openapi.json must describe. */
export interface AnswerSample {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** the POST /reserve body sent */
  requestBody: string;
  /** sent with a bearer token */
  signedIn: boolean;
}

export interface LoadResult {
  /** wall-clock time (ms since epoch) the load started: the zero of the timeline and of firstSoldOutMs */
  startedAt: number;
  /** CPU µs the load generator itself spent on the load: a generator near a core's worth is measuring itself */
  cpuMicros: number;
  requests: number;
  durationMs: number;
  rps: number;
  /** every answer's latency from its intended send (the closed loop: from its send) */
  latency: { p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number };
  crowd: CrowdFigures;
  /** every answer's latency at LATENCY_PERCENTILES, from its intended send */
  latencyPercentiles: LatencyPercentile[];
  /** every answer by outcome code: OK, SOLD_OUT, LIMIT, DUPLICATE, RATE_LIMITED, … */
  outcomes: Record<string, number>;
  /** connection errors other than timeouts */
  errors: number;
  timeouts: number;
  /** answers with a 5xx status (REDIS_DOWN, MYSQL_DOWN, a 500…): the server could not say */
  serverErrors: number;
  /** the first answer of each status and outcome, whole (at most one per kind: a handful a run) */
  answerSamples: AnswerSample[];
  answers: Answer[];
  /** requests whose outcome was never learned: in flight when the load stopped, cut by a connection error or a timeout, or answered 5xx */
  unread: { sku: string; userId: string; requestId: string }[];
  /** wall-clock time (ms since epoch) of the last 201, or null if none */
  lastOkAt: number | null;
  /** ms since the load started of the first SOLD_OUT answer, per SKU */
  firstSoldOutMs: Record<string, number>;
  /** 429 ADMISSION_CLOSED answers per SKU */
  admissionClosed: Record<string, number>;
  /** answers by outcome to requests sent before the opening (scheduled sales only) */
  beforeOpening: Record<string, number>;
  lostReplies: LostReply[];
  timeline: TimelinePoint[];
}
