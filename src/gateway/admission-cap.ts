import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis/connection.js';
import { bucketName } from '../sale/buckets.js';
import { Outcome, type TicketsOutcome } from '../sale/outcomes.js';
import { AdmissionCounter } from '../sale/tickets.js';
import type { SoldOutSales } from './sold-out.js';

/** A ticket: the buyer may go on to reserve.lua, which takes it off `lease`. One object per lease, shared by its tickets. */
export interface Ticket {
  outcome: typeof Outcome.ADMITTED;
  lease: string;
}

/** Why there is no ticket: the cap is reached for now, or the sale cannot be bought now. */
export interface NoTicket {
  outcome: Exclude<TicketsOutcome, typeof Outcome.ADMITTED>;
}

export type TicketAnswer = Ticket | NoTicket;

const NO_TICKET = {
  ADMISSION_CLOSED: { outcome: Outcome.ADMISSION_CLOSED },
  NOT_LOADED: { outcome: Outcome.NOT_LOADED },
  SOLD_OUT: { outcome: Outcome.SOLD_OUT },
  NOT_STARTED: { outcome: Outcome.NOT_STARTED },
  ENDED: { outcome: Outcome.ENDED },
} as const satisfies Record<NoTicket['outcome'], NoTicket>;

/** How long a lease of tickets lasts by default: a process that dies strands its unspent tickets this long at most. */
export const DEFAULT_TICKET_LEASE_MS = 5_000;

interface TicketPool {
  /** the lease tickets are handed out from, null before the first */
  ticket: Ticket | null;
  /** its unspent tickets */
  available: number;
  /** when the lease ends, on this process's monotonic clock (performance.now()): a little before Redis drops it */
  leaseUntil: number;
  refill: Promise<TicketAnswer> | null;
  /** an answer Redis gave that holds for a while (not started, ended, cap reached), and until when */
  refusal: NoTicket | null;
  refusedUntil: number;
}

export interface AdmissionCapOptions {
  /** K: at most K × units ever on sale hold tickets at once */
  factor: number;
  /** tickets a process takes at a time (fewer near the cap) */
  chunk: number;
  /** how long a lease lasts */
  leaseMs: number;
  /** how long a refusal (cap reached, ended) is answered locally before asking Redis again */
  refusalTtlMs: number;
}

/**
 * The admission cap: at most K × (units ever on sale) buyers who can buy
 * hold tickets at once, across all processes — per bucket, for a bucketed
 * SKU. Each process leases tickets from Redis in chunks (take-tickets.lua),
 * so the cap costs one round trip per chunk, not one per request.
 *
 * What a process holds for the fleet has a lifetime (see the script): a
 * lease ends at its deadline, and this process stops handing out its
 * tickets a little before Redis drops it; SIGTERM gives back what is unspent
 * (giveBackAll). reserve.lua takes each ticket off its lease, keeping it for
 * good only for an OK, so requests that cannot buy never close admission
 * while units are left, and a process that dies strands nothing for longer
 * than one lease.
 *
 * Before the opening no ticket is handed out: the process answers
 * NOT_STARTED itself until Redis's clock says it opens (re-asking at least
 * every `refusalTtlMs`, in case the sale was rescheduled).
 */
export class AdmissionCap {
  private readonly pools = new Map<string, TicketPool>();
  private readonly counter: AdmissionCounter;
  /** this process, in its lease names: random, so a restarted process never takes over a dead one's leases */
  private readonly holder = randomBytes(6).toString('base64url');
  private leases = 0;

  constructor(
    redis: RedisClient,
    private readonly options: AdmissionCapOptions,
    private readonly soldOut: SoldOutSales,
  ) {
    this.counter = new AdmissionCounter(redis);
  }

  /**
   * A ticket synchronously while the process holds some; otherwise asks
   * Redis for a chunk. For one bucket of a bucketed SKU (`buckets` > 1),
   * SOLD_OUT means only that this bucket is empty: the SKU is not flagged.
   */
  admit(sku: string, bucket = 0, buckets = 1): TicketAnswer | Promise<TicketAnswer> {
    const key = poolKey(sku, bucket);
    const now = performance.now();
    let pool = this.pools.get(key);
    if (pool !== undefined) {
      if (pool.available > 0 && now < pool.leaseUntil) {
        pool.available -= 1;
        return pool.ticket!;
      }
      if (pool.refusal !== null && now < pool.refusedUntil) return pool.refusal;
    } else {
      pool = { ticket: null, available: 0, leaseUntil: 0, refill: null, refusal: null, refusedUntil: 0 };
      this.pools.set(key, pool);
    }
    // Concurrent requests that find the pool empty share one refill.
    const refilling = (pool.refill ??= this.refill(sku, key, bucket, buckets, pool));
    return refilling.then((answer) => (answer.outcome === Outcome.ADMITTED ? this.admit(sku, bucket, buckets) : answer));
  }

  /** SKUs (buckets of bucketed SKUs) this process keeps a ticket pool for: only those Redis said are on sale, so made-up names cannot grow it. */
  get pooledSkus(): number {
    return this.pools.size;
  }

  /** A reserve call that failed (Redis down): its ticket may be used again, if its lease still runs. */
  giveBack(sku: string, bucket: number, ticket: Ticket): void {
    const pool = this.pools.get(poolKey(sku, bucket));
    if (pool !== undefined && pool.ticket === ticket && performance.now() < pool.leaseUntil) pool.available += 1;
  }

  /** Stock came back (release.lua), or the SKU was thawed: the cap has grown, ask Redis again (for every bucket). */
  reopen(sku: string): void {
    for (const [key, pool] of this.pools) {
      if (key === sku || key.startsWith(`${sku}#`)) pool.refusal = null;
    }
  }

  /**
   * Gives every unspent ticket back to the fleet (SIGTERM, once in-flight
   * requests are answered). Resolves with how many; rejects when Redis could
   * not be told (the leases then end by their deadlines).
   */
  async giveBackAll(): Promise<number> {
    const now = performance.now();
    const held = [...this.pools].filter(([, pool]) => pool.ticket !== null && pool.available > 0 && now < pool.leaseUntil);
    const given = held.map(async ([key, pool]) => {
      const unspent = pool.available;
      pool.available = 0;
      const [sku, bucket] = splitPoolKey(key);
      await this.counter.giveBack(sku, bucket, pool.ticket!.lease, unspent);
      return unspent;
    });
    return (await Promise.all(given)).reduce((n, m) => n + m, 0);
  }

  private async refill(sku: string, key: string, bucket: number, buckets: number, pool: TicketPool): Promise<TicketAnswer> {
    const { chunk, factor, leaseMs, refusalTtlMs } = this.options;
    // Timed from before the call: the lease's deadline on Redis's clock is later than this.
    const asked = performance.now();
    const refuse = (refusal: NoTicket, forMs: number): NoTicket => {
      pool.refusal = refusal;
      pool.refusedUntil = performance.now() + forMs;
      return refusal;
    };
    try {
      const { outcome, detail, leaseId } = await this.counter.take(sku, bucket, chunk, factor, `${this.holder}.${(this.leases += 1).toString(36)}`, leaseMs);
      switch (outcome) {
        case Outcome.NOT_LOADED:
          this.pools.delete(key);
          return NO_TICKET.NOT_LOADED;
        case Outcome.NOT_STARTED:
          return refuse(NO_TICKET.NOT_STARTED, Math.min(detail, refusalTtlMs));
        case Outcome.ENDED:
          return refuse(NO_TICKET.ENDED, refusalTtlMs);
        case Outcome.ADMISSION_CLOSED:
          return refuse(NO_TICKET.ADMISSION_CLOSED, refusalTtlMs);
        case Outcome.SOLD_OUT:
          if (buckets === 1) this.soldOut.set(sku, Date.now(), 'confirmed', detail);
          return NO_TICKET.SOLD_OUT;
        case Outcome.ADMITTED:
          // What is left of an earlier lease is dropped here: Redis drops it at its deadline.
          pool.ticket = { outcome: Outcome.ADMITTED, lease: leaseId };
          pool.available = detail;
          pool.leaseUntil = asked + leaseMs;
          pool.refusal = null;
          return pool.ticket;
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

const poolKey = bucketName;

const splitPoolKey = (key: string): [string, number] => {
  const at = key.lastIndexOf('#');
  return at === -1 ? [key, 0] : [key.slice(0, at), Number(key.slice(at + 1))];
};
