import type { RedisClient } from '../redis/connection.js';
import { RatePermits } from '../sale/rate-permits.js';

/** A lease is spent within this long or handed back, so permits leased long ago cannot join a later burst beyond the pool's. */
const LEASE_TTL_MS = 1_000;

/** A lease covers 1/LEASES_PER_SECOND s: of the process's own demand, and at most of the fleet's rate. */
const LEASES_PER_SECOND = 20;

/** A process's demand is its take() calls averaged over about this long (the time constant of their decay). */
const DEMAND_WINDOW_MS = 1_000;

/**
 * The most a process leases at a time: 1/20 s of the fleet's rate (at most
 * burst, at least 1). Small enough that the permits a fleet holds unspent (one
 * lease per process) stay a small part of a second's rate; large enough that
 * a process carrying the whole rate asks Redis about 20 times a second.
 */
export const maxLeaseSize = (rate: number, burst: number): number => Math.max(1, Math.min(burst, Math.floor(rate / LEASES_PER_SECOND)));

/**
 * The fleet's rate limit (the seed's distributed rate limit): `rate` requests a second and bursts of `burst`
 * across every server process sharing this Redis (take-rate-permits.lua, on
 * Redis's clock). A process leases permits in chunks, so the pool costs one
 * round trip per lease, not per request: `take()` answers `true`
 * synchronously while the process holds leased permits. A lease covers about
 * 1/20 s of this process's own demand (its take() calls over the last
 * second or so, and no fewer than the requests waiting for it), at least 1
 * and at most maxLeaseSize: a fleet of many processes leases about what it
 * spends, not 1/20 s of the rate each. What a lease leaves unspent when its
 * second is up goes back to the pool with the process's next lease call,
 * in the same round trip (the pool keeps at most burst).
 *
 * When the lease is spent, concurrent requests share one lease call; when the
 * fleet's pool is short, the process refuses on its own until the pool
 * holds a full lease again, so a flood costs each process about one call per
 * full lease's refill (20 a second), however many requests it brings.
 *
 * Over any t seconds the fleet admits at most burst + rate × t + what its
 * processes held unspent when the t seconds began, spendable or lapsed and
 * not yet handed back: at most one lease each, so at most
 * burst + rate × t + processes × maxLeaseSize. A process that dies strands at
 * most one lease. When Redis cannot be asked, the returned promise rejects:
 * the caller answers 503.
 */
export class RateLimit {
  /** permits of the last lease not spent: spendable until heldUntil, then handed back with the next lease call */
  private held = 0;
  private heldUntil = 0;
  private refusingUntil = 0;
  private leasing: Promise<void> | null = null;
  /** requests waiting for the lease call in flight */
  private waiting = 0;
  /** take() calls since demand was last folded into recentDemand */
  private takesSinceFold = 0;
  /** take() calls, each decaying with DEMAND_WINDOW_MS: about the calls of the last window */
  private recentDemand = 0;
  private foldedAt = 0;
  private readonly maxLease: number;
  private readonly fleet: RatePermits;

  constructor(redis: RedisClient, rate: number, burst: number) {
    this.maxLease = maxLeaseSize(rate, burst);
    this.fleet = new RatePermits(redis, rate, burst, this.maxLease);
  }

  take(): boolean | Promise<boolean> {
    this.takesSinceFold += 1;
    return this.spend();
  }

  private spend(): boolean | Promise<boolean> {
    const now = performance.now();
    if (this.held > 0 && now < this.heldUntil) {
      this.held -= 1;
      return true;
    }
    if (now < this.refusingUntil) return false;
    // Concurrent requests that find the lease spent share one call; those it
    // cannot serve ask again (with a lease that covers them), until the pool
    // says it is short.
    this.waiting += 1;
    this.leasing ??= this.lease();
    return this.leasing.then(() => {
      this.waiting -= 1;
      return this.spend();
    });
  }

  /**
   * About 1/20 s of this process's demand, and no less than the requests
   * already waiting for it (a crowd arriving at once is served by one or two
   * calls, not one per lease of its former size); at least 1, at most a full
   * lease. Folds the take() calls counted since the last lease into the demand.
   */
  private nextLeaseSize(now: number): number {
    this.recentDemand = this.recentDemand * Math.exp(-(now - this.foldedAt) / DEMAND_WINDOW_MS) + this.takesSinceFold;
    this.takesSinceFold = 0;
    this.foldedAt = now;
    const perSecond = (this.recentDemand * 1000) / DEMAND_WINDOW_MS;
    return Math.max(1, Math.min(this.maxLease, Math.max(this.waiting, Math.round(perSecond / LEASES_PER_SECOND))));
  }

  private async lease(): Promise<void> {
    try {
      // A lease is asked for only once the last one is spent or lapsed: what is
      // held now is a lapsed rest, handed back. Forgotten before the call, so a
      // call that fails after the script ran cannot hand it back twice.
      const unspent = this.held;
      this.held = 0;
      const { granted, msUntilLease } = await this.fleet.lease(this.nextLeaseSize(performance.now()), unspent);
      const now = performance.now();
      this.held = granted;
      this.heldUntil = now + LEASE_TTL_MS;
      // Up to one refill more, at random: processes that find the pool
      // short would otherwise ask again in the same order every time, and the
      // first would take every lease while the others starve.
      this.refusingUntil = now + msUntilLease * (1 + Math.random());
    } catch (error) {
      this.waiting = 0; // every request waiting for this call is answered by its rejection
      throw error;
    } finally {
      this.leasing = null;
    }
  }
}
