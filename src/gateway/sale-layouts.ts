import type { RedisClient } from '../redis/connection.js';
import { readSaleLayout, type SaleLayout } from '../sale/buckets.js';

/** No sale is loaded for the SKU. */
export const NO_SALE = 'NO_SALE';

/**
 * An unknown SKU is answered from memory for this long: a flood of made-up
 * names costs one Redis read per name and moment, not one per request. A SKU
 * put on sale meanwhile is heard of at once (ON_SALE clears it).
 */
const UNKNOWN_TTL_MS = 1_000;
/** At most this many unknown names are remembered: a flood of new ones cannot grow the process. */
const MAX_UNKNOWN = 10_000;

interface Entry {
  layout: SaleLayout;
  readAt: number;
  reading: boolean;
}

/**
 * Each SKU's layout (sale/buckets.ts), read and kept: answered
 * synchronously once known, read again in the background every `ttlMs` (a
 * SKU preloaded afresh with another bucket count is seen within that) and
 * when ON_SALE is heard. Only SKUs that are loaded are kept for long, so
 * made-up names cannot grow it; an unknown name is answered NO_SALE from a
 * short, bounded negative cache, before the request costs a rate permit or a
 * ticket. A failed background read keeps the layout known and is reported.
 */
export class SaleLayouts {
  private readonly entries = new Map<string, Entry>();
  /** unknown SKU → until when (ms) it is answered NO_SALE without asking Redis */
  private readonly unknown = new Map<string, number>();
  /** reads under way of SKUs not known yet: a crowd on a new name shares one */
  private readonly reading = new Map<string, Promise<SaleLayout | typeof NO_SALE>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly onError: (error: unknown) => void,
    private readonly ttlMs = 1_000,
  ) {}

  get(sku: string, now: number): SaleLayout | typeof NO_SALE | Promise<SaleLayout | typeof NO_SALE> {
    const entry = this.entries.get(sku);
    if (entry === undefined) {
      const until = this.unknown.get(sku);
      if (until !== undefined && now < until) return NO_SALE;
      let pending = this.reading.get(sku);
      if (pending === undefined) {
        pending = this.read(sku, now).finally(() => this.reading.delete(sku));
        this.reading.set(sku, pending);
      }
      return pending;
    }
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
    this.unknown.delete(sku);
  }

  /** Unknown SKU names remembered right now (for tests: bounded). */
  get unknownSkus(): number {
    return this.unknown.size;
  }

  private async read(sku: string, now: number): Promise<SaleLayout | typeof NO_SALE> {
    const layout = await readSaleLayout(this.redis, sku);
    if (layout === null) {
      this.entries.delete(sku);
      if (this.unknown.size >= MAX_UNKNOWN) this.unknown.delete(this.unknown.keys().next().value!);
      this.unknown.set(sku, now + UNKNOWN_TTL_MS);
      return NO_SALE;
    }
    this.unknown.delete(sku);
    this.entries.set(sku, { layout, readAt: now, reading: false });
    return layout;
  }
}
