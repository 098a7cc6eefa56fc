import type { RedisClient } from '../redis/connection.js';
import type { ReplicaAcks } from '../redis/replica-acks.js';
import type { BuyRequest, ReserveResult } from '../sale/reservations.js';
import { answerSoldOut, readSoldOutSnapshot, type SoldOutSnapshot } from '../sale/sold-out-snapshot.js';

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
    /** with --replica-acks: a snapshot is used only once replicas hold what it read (see readSoldOutSnapshot) */
    private readonly replicaAcks: ReplicaAcks | null = null,
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
      snapshot = await readSoldOutSnapshot(this.redis, sku, this.replicaAcks);
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
