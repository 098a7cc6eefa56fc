import type { Redis } from 'ioredis';
import { skuKeys, STOCK_EVENTS_CHANNEL } from '../redis/keys.js';
import { defineScript, type ScriptCall } from '../redis/scripts.js';

/**
 * The in-process admission layers that turn most of a flash crowd away
 * before it costs a Redis call: the local sold-out flag, the token bucket and
 * the admission cap. Cheapest first; each is O(1) and allocation-free on the
 * common path.
 */

/** Per-process token bucket: `rate` requests a second, bursts of `burst`. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * SKUs this process knows are sold out. Set when reserve.lua answers with no
 * stock left, or when another process announces it over pub/sub; cleared
 * when release.lua announces stock is back. A flag also expires after
 * `ttlMs`, so a message lost or overtaken by a reply (pub/sub and commands
 * travel on different connections) costs at most that long of refusals.
 */
export class SoldOutFlags {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly onChange: (count: number) => void = () => {},
  ) {}

  isSoldOut(sku: string, now: number): boolean {
    const until = this.until.get(sku);
    if (until === undefined) return false;
    if (until > now) return true;
    this.clear(sku);
    return false;
  }

  set(sku: string, now = Date.now()): void {
    this.until.set(sku, now + this.ttlMs);
    this.onChange(this.until.size);
  }

  clear(sku: string): void {
    if (this.until.delete(sku)) this.onChange(this.until.size);
  }

  clearAll(): void {
    this.until.clear();
    this.onChange(0);
  }
}

export type TicketAnswer = 'ADMIT' | 'CLOSED' | 'NOT_LOADED' | 'SOLD_OUT';

interface TicketPool {
  available: number;
  refill: Promise<TicketAnswer> | null;
  closedUntil: number;
}

/**
 * The admission cap: at most K × (units ever on sale) requests per SKU reach
 * reserve.lua, across all processes. Each process takes tickets from Redis in
 * chunks (take-tickets.lua), so the cap costs one round trip per chunk, not
 * one per request. Tickets a process holds when the sale ends are simply
 * unused: the cap is an upper bound on load, not a promise to admit.
 */
export class AdmissionTickets {
  private readonly pools = new Map<string, TicketPool>();
  private readonly takeTickets: ScriptCall;

  constructor(
    redis: Redis,
    private readonly factor: number,
    private readonly chunk: number,
    private readonly closedTtlMs: number,
  ) {
    this.takeTickets = defineScript(redis, 'take-tickets', 3);
  }

  /** 'ADMIT' synchronously while the process holds tickets; otherwise asks Redis for a chunk. */
  admit(sku: string, now: number): TicketAnswer | Promise<TicketAnswer> {
    let pool = this.pools.get(sku);
    if (pool !== undefined && pool.available > 0) {
      pool.available -= 1;
      return 'ADMIT';
    }
    if (pool !== undefined && pool.closedUntil > now) return 'CLOSED';
    if (pool === undefined) {
      pool = { available: 0, refill: null, closedUntil: 0 };
      this.pools.set(sku, pool);
    }
    // Concurrent requests that find the pool empty share one refill.
    pool.refill ??= this.refill(sku, pool);
    return pool.refill.then((answer) => {
      if (answer !== 'ADMIT') return answer;
      if (pool.available > 0) {
        pool.available -= 1;
        return 'ADMIT';
      }
      return this.admit(sku, Date.now());
    });
  }

  /** Stock came back (release.lua): the cap has grown, ask Redis again. */
  reopen(sku: string): void {
    const pool = this.pools.get(sku);
    if (pool) pool.closedUntil = 0;
  }

  private async refill(sku: string, pool: TicketPool): Promise<TicketAnswer> {
    const k = skuKeys(sku);
    try {
      const granted = Number(await this.takeTickets([k.admitted, k.meta, k.stock], [this.chunk, this.factor]));
      if (granted === -1) {
        this.pools.delete(sku);
        return 'NOT_LOADED';
      }
      if (granted === -2) return 'SOLD_OUT';
      if (granted === 0) {
        pool.closedUntil = Date.now() + this.closedTtlMs;
        return 'CLOSED';
      }
      pool.available += granted;
      return 'ADMIT';
    } finally {
      pool.refill = null;
    }
  }
}

/**
 * Keeps the local flags in step with every other server process: reserve.lua
 * publishes SOLD_OUT when it sells the last unit, release.lua publishes
 * ON_SALE when it returns stock. Resolves once subscribed.
 */
export const followStockEvents = async (
  subscriber: Redis,
  soldOut: SoldOutFlags,
  tickets: AdmissionTickets,
): Promise<void> => {
  subscriber.on('message', (_channel: string, message: string) => {
    const space = message.indexOf(' ');
    const event = message.slice(0, space);
    const sku = message.slice(space + 1);
    if (event === 'SOLD_OUT') soldOut.set(sku);
    else if (event === 'ON_SALE') {
      soldOut.clear(sku);
      tickets.reopen(sku);
    }
  });
  // Messages sent while the subscriber was disconnected are lost: forget
  // every flag rather than trust a stale one.
  subscriber.on('ready', () => soldOut.clearAll());
  await subscriber.subscribe(STOCK_EVENTS_CHANNEL);
};
