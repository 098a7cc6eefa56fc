import type { RedisClient } from '../redis/connection.js';
import { Outcome } from '../sale/outcomes.js';
import { RateTokens } from '../sale/rate-tokens.js';
import type { BuyRequest, ReserveResult } from '../sale/reservations.js';
import { answerSoldOut, readSoldOutSnapshot, type SoldOutSnapshot } from '../sale/sold-out-snapshot.js';
import { followStockEvents } from '../sale/stock-events.js';
import { AdmissionCounter } from '../sale/tickets.js';
import type { SaleLayouts } from './sale-layouts.js';

/**
 * The in-process admission layers that turn most of a flash crowd away
 * before it costs a Redis call: the local sold-out answer, the fleet's token
 * bucket and the admission cap (which also answers "not started" before the
 * opening); the last two are leased from Redis in chunks. Cheapest first;
 * each is O(1) and allocation-free on the common path.
 */

/** A lease is spent within this long or dropped, so tokens leased long ago cannot join a later burst. */
const LEASE_TTL_MS = 1_000;

/**
 * Tokens a process leases at a time by default: 1/20 s of the fleet's rate.
 * Small enough that the tokens a fleet holds unspent (one lease per process)
 * stay a small part of a second's rate; large enough that a process carrying
 * the whole rate asks Redis about 20 times a second.
 */
export const defaultLeaseSize = (rate: number, burst: number): number => Math.max(1, Math.min(burst, Math.floor(rate / 20)));

/**
 * The fleet's token bucket: `rate` requests a second and bursts of `burst`
 * across every server process sharing this Redis (take-rate-tokens.lua, on
 * Redis's clock). A process leases tokens in chunks of `leaseSize`, so the
 * bucket costs one round trip per lease, not per request: `take()` answers
 * `true` synchronously while the process holds leased tokens. When they are
 * spent, concurrent requests share one lease call; when the fleet's bucket is
 * short of another lease, the process refuses on its own until it has
 * refilled, so a flood costs each process at most one call per lease's worth
 * of the rate (20 a second by default), however many requests it brings.
 * The fleet admits at most burst + rate × t + one lease per process in any
 * t seconds, and a process that dies strands at most one lease. When Redis
 * cannot be asked, the returned promise rejects: the caller answers 503.
 */
export class TokenBucket {
  private held = 0;
  private heldUntil = 0;
  private refusingUntil = 0;
  private leasing: Promise<void> | null = null;
  private readonly fleet: RateTokens;

  constructor(
    redis: RedisClient,
    rate: number,
    burst: number,
    private readonly leaseSize = defaultLeaseSize(rate, burst),
  ) {
    this.fleet = new RateTokens(redis, rate, burst);
  }

  take(): boolean | Promise<boolean> {
    const now = performance.now();
    if (this.held > 0 && now < this.heldUntil) {
      this.held -= 1;
      return true;
    }
    if (now < this.refusingUntil) return false;
    // Concurrent requests that find the lease spent share one call; those it
    // cannot serve ask again, until the bucket says it is short.
    this.leasing ??= this.lease();
    return this.leasing.then(() => this.take());
  }

  private async lease(): Promise<void> {
    try {
      const { granted, msUntilLease } = await this.fleet.lease(this.leaseSize);
      const now = performance.now();
      this.held = granted; // what is left of an expired lease is dropped, not spent
      this.heldUntil = now + LEASE_TTL_MS;
      // Up to one refill more, at random: processes that find the bucket
      // short would otherwise ask again in the same order every time, and the
      // first would take every lease while the others starve.
      this.refusingUntil = now + msUntilLease * (1 + Math.random());
    } finally {
      this.leasing = null;
    }
  }
}

interface SoldOutEntry {
  /** the flag is trusted until then (ms) */
  until: number;
  /** read on the first buyer who needs it, kept until units come back */
  snapshot: SoldOutSnapshot | null;
  loading: Promise<SoldOutSnapshot | null> | null;
}

/** How long a snapshot outlives its expired flag before it is forgotten (a sale long over). */
const FORGET_AFTER_MS = 60_000;

/**
 * SKUs this process knows are sold out, and how to answer their buyers
 * without Redis. Set when reserve.lua answers with no stock left, when
 * take-tickets.lua finds none, or when another process announces it over
 * pub/sub; cleared when release.lua announces stock is back. A flag expires
 * after `ttlMs`, so a message lost or overtaken by a reply (pub/sub and
 * commands travel on different connections) costs at most that long.
 *
 * A buyer of a flagged SKU gets what reserve.lua would answer: a retry its
 * order id, a user at the limit theirs, everyone else 410 — from a snapshot
 * of the SKU's request ids and holdings read once when it sold out.
 */
export class SoldOutSales {
  private readonly entries = new Map<string, SoldOutEntry>();
  private lastSweep = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly ttlMs: number,
  ) {}

  isSoldOut(sku: string, now: number): boolean {
    const entry = this.entries.get(sku);
    return entry !== undefined && entry.until > now;
  }

  /** SKUs flagged right now (for the metric). */
  flagged(now = Date.now()): number {
    let n = 0;
    for (const entry of this.entries.values()) if (entry.until > now) n += 1;
    return n;
  }

  /**
   * `sold`: the last unit just went (the holdings changed: read them again).
   * `confirmed`: still nothing left; `released`, when known, tells whether
   * units came back since the snapshot was read (then it is read again).
   */
  set(sku: string, now: number, how: 'sold' | 'confirmed', released?: number): void {
    this.sweep(now);
    const entry = this.entries.get(sku);
    if (entry === undefined) {
      this.entries.set(sku, { until: now + this.ttlMs, snapshot: null, loading: null });
      return;
    }
    entry.until = now + this.ttlMs;
    const stale = how === 'sold' || (released !== undefined && entry.snapshot !== null && entry.snapshot.released !== released);
    if (stale) {
      entry.snapshot = null;
      entry.loading = null;
    }
  }

  clear(sku: string): void {
    this.entries.delete(sku);
  }

  clearAll(): void {
    this.entries.clear();
  }

  /**
   * reserve.lua's answer for a buyer of a flagged SKU, without a Redis round
   * trip once the snapshot is read (the first buyers after the sell-out share
   * one read). Null when the SKU turned out to have units again: the caller
   * asks reserve.lua. Rejects when Redis cannot be read.
   */
  answer(request: BuyRequest): ReserveResult | null | Promise<ReserveResult | null> {
    const entry = this.entries.get(request.sku);
    if (entry === undefined) return null;
    if (entry.snapshot !== null) return answerSoldOut(entry.snapshot, request);
    entry.loading ??= this.load(request.sku, entry);
    return entry.loading.then((snapshot) => (snapshot === null ? null : answerSoldOut(snapshot, request)));
  }

  private async load(sku: string, entry: SoldOutEntry): Promise<SoldOutSnapshot | null> {
    let snapshot: SoldOutSnapshot | null;
    try {
      snapshot = await readSoldOutSnapshot(this.redis, sku);
    } catch (error) {
      entry.loading = null; // the next buyer tries again
      throw error;
    }
    if (this.entries.get(sku) !== entry || entry.loading === null) return snapshot; // cleared or made stale meanwhile
    if (snapshot === null) this.entries.delete(sku);
    else entry.snapshot = snapshot;
    return snapshot;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < FORGET_AFTER_MS) return;
    this.lastSweep = now;
    for (const [sku, entry] of this.entries) if (entry.until + FORGET_AFTER_MS < now) this.entries.delete(sku);
  }
}

export type TicketAnswer = 'ADMIT' | 'CLOSED' | 'NOT_LOADED' | 'SOLD_OUT' | 'NOT_STARTED';

interface TicketPool {
  available: number;
  refill: Promise<TicketAnswer> | null;
  closedUntil: number;
  notStartedUntil: number;
}

/**
 * The admission cap: at most K × (units ever on sale) buyers who can buy are
 * admitted to reserve.lua at once, across all processes — per bucket, for a
 * bucketed SKU (a bucket's units ever on sale count what transfers moved in
 * and out). Each process takes
 * tickets from Redis in chunks (take-tickets.lua), so the cap costs one round
 * trip per chunk, not one per request. reserve.lua gives a ticket back for
 * every answer but OK, and a call that failed gives its ticket back to the
 * pool here, so requests that cannot buy never close admission while units
 * are left. Before the opening no ticket is handed out: the process answers
 * NOT_STARTED itself until the opening (re-asking at least every
 * `closedTtlMs`, in case the sale was rescheduled).
 */
export class AdmissionTickets {
  private readonly pools = new Map<string, TicketPool>();
  private readonly counter: AdmissionCounter;

  constructor(
    redis: RedisClient,
    private readonly factor: number,
    private readonly chunk: number,
    private readonly closedTtlMs: number,
    private readonly soldOut: SoldOutSales,
  ) {
    this.counter = new AdmissionCounter(redis);
  }

  /**
   * 'ADMIT' synchronously while the process holds tickets; otherwise asks
   * Redis for a chunk. For one bucket of a bucketed SKU (`buckets` > 1),
   * SOLD_OUT means only that this bucket is empty: the SKU is not flagged.
   */
  admit(sku: string, now: number, bucket = 0, buckets = 1): TicketAnswer | Promise<TicketAnswer> {
    const key = bucket === 0 ? sku : `${sku}#${bucket}`;
    let pool = this.pools.get(key);
    if (pool !== undefined && pool.available > 0) {
      pool.available -= 1;
      return 'ADMIT';
    }
    if (pool !== undefined && pool.notStartedUntil > now) return 'NOT_STARTED';
    if (pool !== undefined && pool.closedUntil > now) return 'CLOSED';
    if (pool === undefined) {
      pool = { available: 0, refill: null, closedUntil: 0, notStartedUntil: 0 };
      this.pools.set(key, pool);
    }
    // Concurrent requests that find the pool empty share one refill.
    pool.refill ??= this.refill(sku, key, bucket, buckets, pool, now);
    return pool.refill.then((answer) => {
      if (answer !== 'ADMIT') return answer;
      if (pool.available > 0) {
        pool.available -= 1;
        return 'ADMIT';
      }
      return this.admit(sku, Date.now(), bucket, buckets);
    });
  }

  /** SKUs (buckets of bucketed SKUs) this process keeps a ticket pool for: only those Redis said are on sale, so made-up names cannot grow it. */
  get pooledSkus(): number {
    return this.pools.size;
  }

  /** A reserve call that failed (Redis down): its ticket may be used again. */
  giveBack(sku: string, bucket = 0): void {
    const pool = this.pools.get(bucket === 0 ? sku : `${sku}#${bucket}`);
    if (pool) pool.available += 1;
  }

  /** Stock came back (release.lua), or the SKU was thawed: the cap has grown, ask Redis again (for every bucket). */
  reopen(sku: string): void {
    for (const [key, pool] of this.pools) {
      if (key === sku || key.startsWith(`${sku}#`)) {
        pool.closedUntil = 0;
        pool.notStartedUntil = 0;
      }
    }
  }

  private async refill(sku: string, key: string, bucket: number, buckets: number, pool: TicketPool, now: number): Promise<TicketAnswer> {
    try {
      const { outcome, detail } = await this.counter.take(sku, this.chunk, this.factor, now, bucket);
      switch (outcome) {
        case Outcome.NOT_LOADED:
          this.pools.delete(key);
          return 'NOT_LOADED';
        case Outcome.NOT_STARTED:
          pool.notStartedUntil = Math.min(detail, Date.now() + this.closedTtlMs);
          return 'NOT_STARTED';
        case Outcome.SOLD_OUT:
          if (buckets === 1) this.soldOut.set(sku, Date.now(), 'confirmed', detail);
          return 'SOLD_OUT';
        case Outcome.ADMISSION_CLOSED:
          pool.closedUntil = Date.now() + this.closedTtlMs;
          return 'CLOSED';
        case Outcome.ADMITTED:
          pool.available += detail;
          return 'ADMIT';
      }
    } catch (error) {
      // Redis is down: keep no pool for a SKU that may not even exist.
      if (pool.available === 0 && this.pools.get(key) === pool) this.pools.delete(key);
      throw error;
    } finally {
      pool.refill = null;
    }
  }
}

/**
 * Keeps the local flags in step with every other server process (see
 * src/sale/stock-events.ts). Resolves once subscribed.
 */
export const keepInStep = (subscriber: RedisClient, soldOut: SoldOutSales, tickets: AdmissionTickets, layouts: SaleLayouts): Promise<void> =>
  followStockEvents(
    subscriber,
    ({ kind, sku }) => {
      if (kind === 'SOLD_OUT') soldOut.set(sku, Date.now(), 'sold');
      else {
        soldOut.clear(sku);
        tickets.reopen(sku);
        layouts.forget(sku);
      }
    },
    // Messages sent while the subscriber was disconnected are lost: forget every flag rather than trust a stale one.
    () => soldOut.clearAll(),
  );
