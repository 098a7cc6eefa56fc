import type { RedisClient } from '../redis/connection.js';
import { Outcome } from '../sale/outcomes.js';
import { AdmissionCounter } from '../sale/tickets.js';
import type { SoldOutSales } from './sold-out.js';

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
export class AdmissionCap {
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
