import type { RedisClient } from '../redis/connection.js';
import { RateTokens } from '../sale/rate-tokens.js';

/** A lease is spent within this long or handed back, so tokens leased long ago cannot join a later burst beyond the bucket's. */
const LEASE_TTL_MS = 1_000;

/**
 * Tokens a process leases at a time by default: 1/20 s of the fleet's rate.
 * Small enough that the tokens a fleet holds unspent (one lease per process)
 * stay a small part of a second's rate; large enough that a process carrying
 * the whole rate asks Redis about 20 times a second.
 */
export const defaultLeaseSize = (rate: number, burst: number): number => Math.max(1, Math.min(burst, Math.floor(rate / 20)));

/**
 * The fleet's rate limit (the seed's distributed token bucket): `rate` requests a second and bursts of `burst`
 * across every server process sharing this Redis (take-rate-tokens.lua, on
 * Redis's clock). A process leases tokens in chunks of `leaseSize`, so the
 * bucket costs one round trip per lease, not per request: `take()` answers
 * `true` synchronously while the process holds leased tokens. When they are
 * spent, concurrent requests share one lease call; when the fleet's bucket is
 * short of another lease, the process refuses on its own until it has
 * refilled, so a flood costs each process at most one call per lease's worth
 * of the rate (20 a second by default), however many requests it brings.
 * What a lease leaves unspent when its second is up goes back to the bucket
 * with the process's next lease call, in the same round trip (the bucket
 * keeps at most burst). The fleet admits at most burst + rate × t + one lease
 * per process in any t seconds (what the processes held unspent when the
 * t seconds began, spendable or lapsed and not yet handed back), and a
 * process that dies strands at most one lease. When Redis cannot be asked,
 * the returned promise rejects: the caller answers 503.
 */
export class RateLimit {
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
    this.fleet = new RateTokens(redis, rate, burst, leaseSize);
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
      // A lease is asked for only once the last one is spent or lapsed: what is
      // held now is a lapsed rest, handed back. Forgotten before the call, so a
      // call that fails after the script ran cannot hand it back twice.
      const unspent = this.held;
      this.held = 0;
      const { granted, msUntilLease } = await this.fleet.lease(this.leaseSize, unspent);
      const now = performance.now();
      this.held = granted;
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
