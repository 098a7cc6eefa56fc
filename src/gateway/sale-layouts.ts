import type { RedisClient } from '../redis/connection.js';
import { skuKeys } from '../redis/keys.js';

/** How a SKU's stock is laid out in Redis, as a server process needs it on every request. */
export interface SaleLayout {
  /** stock buckets (1: an unbucketed SKU) */
  buckets: number;
  /** a bucket left with this many units or fewer after a sale is topped up from the others (a tenth of its share) */
  lowWater: number;
}

const UNBUCKETED: SaleLayout = { buckets: 1, lowWater: 0 };

interface Entry {
  layout: SaleLayout;
  readAt: number;
  reading: boolean;
}

/**
 * Each SKU's layout, read from bucket 0's meta and kept: answered
 * synchronously once known, read again in the background every `ttlMs` (a
 * SKU preloaded afresh with another bucket count is seen within that) and
 * when ON_SALE is heard. Only SKUs that are loaded are kept, so made-up
 * names cannot grow it; a failed background read keeps the layout known and
 * is reported.
 */
export class SaleLayouts {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly redis: RedisClient,
    private readonly onError: (error: unknown) => void,
    private readonly ttlMs = 1_000,
  ) {}

  get(sku: string, now: number): SaleLayout | Promise<SaleLayout> {
    const entry = this.entries.get(sku);
    if (entry === undefined) return this.read(sku, now);
    if (now - entry.readAt > this.ttlMs && !entry.reading) {
      entry.reading = true;
      this.read(sku, now)
        .catch(this.onError)
        .finally(() => (entry.reading = false));
    }
    return entry.layout;
  }

  forget(sku: string): void {
    this.entries.delete(sku);
  }

  private async read(sku: string, now: number): Promise<SaleLayout> {
    const [initial, buckets] = await this.redis.hmget(skuKeys(sku).meta, 'initial', 'buckets');
    if (initial === null) {
      this.entries.delete(sku);
      return UNBUCKETED;
    }
    const layout = buckets === null ? UNBUCKETED : { buckets: Number(buckets), lowWater: Math.max(1, Math.floor(Number(initial) / 10)) };
    this.entries.set(sku, { layout, readAt: now, reading: false });
    return layout;
  }
}
