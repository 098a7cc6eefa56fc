import type { RedisClient } from '../redis/connection.js';
import { bucketName, type SkuKeys, skuKeys, STOCK_EVENTS_CHANNEL, STREAM_FIELD, streamMessage } from '../redis/keys.js';
import { countBelow, fieldIn, markedIn, type ReplicaAcks } from '../redis/replica-acks.js';
import { retryWhileMoving } from '../redis/redirected.js';
import { defineScript, type ScriptCall } from '../redis/scripts.js';
import { groupBy } from '../group-by.js';
import { bucketKeysOf } from './buckets.js';
import { GroupCommit, type GroupLimits } from '../group-commit.js';
import { bucketOfOrderId, newOrderId } from './ids.js';
import { eventTexts, type OrderEvent } from './order-event.js';
import { Outcome, type ReleaseOutcome, type ReserveOutcome } from './outcomes.js';

export interface BuyRequest {
  sku: string;
  userId: string;
  qty: number;
  /** idempotency key chosen by the buyer's client; retries reuse it */
  requestId?: string;
}

export interface ReserveResult {
  outcome: ReserveOutcome;
  /** the new order (OK), the earlier one (DUPLICATE, LIMIT), else null */
  orderId: string | null;
  /** stock left after the call (OK, SOLD_OUT), else null */
  remaining: number | null;
}

export interface ReleaseResult {
  outcome: ReleaseOutcome;
  remaining: number | null;
}

/** What reserve.lua writes for each reservation: the order event, and what happened to it since. */
export interface ReservationRecord extends OrderEvent {
  /** set by mark-persisted.lua once the order is in MySQL */
  persistedAt?: number;
  /** set by release.lua */
  releasedAt?: number;
  reason?: string;
}

/** One buy request as reserve.lua takes it: the request, the order id it gets if it reserves. */
export interface ReserveItem {
  request: BuyRequest;
  orderId: string;
  /** the admission lease whose ticket the caller spent on it (reserve.lua takes the ticket off it), or null */
  ticketLease: string | null;
  /** the stock bucket it buys from (0 for an unbucketed SKU) */
  bucket: number;
}

/**
 * Group commit by default: the requests of a SKU that arrive together go to
 * Redis in one reserve.lua call (see group-commit.ts). 200 requests are
 * about 2 ms of Redis time (scripts/redis-cost.mjs) — long enough to amortise
 * a call, short enough that other SKUs on the same master barely wait; 64 KiB bounds the call's
 * size (ids are at most 64 characters, so 200 requests stay well under it).
 */
export const DEFAULT_GROUP_LIMITS: GroupLimits = { maxItems: 200, maxBytes: 64 * 1024 };

/** reserve.lua's unpack() of a call's ids stays far below Lua's C stack (8,000 values). */
export const MAX_GROUP_ITEMS = 1_000;

export interface ReservationOptions {
  /** with replicas to wait for (--replica-acks), no order id is answered before they hold it; null: the master's word */
  replicaAcks?: ReplicaAcks | null;
  /** group commit's bounds, or null for one reserve.lua call per request */
  groupCommit?: GroupLimits | null;
  /** told the number of requests each reserve.lua call decided, once it answered */
  onReserveCall?: (requests: number) => void;
}

/**
 * The two atomic steps of a sale, as typed calls over reserve.lua and
 * release.lua. Every call is one Redis round trip (and, with replicas to
 * wait for, one WAIT shared by the reservations of a SKU in the same turn);
 * reservations of one SKU that arrive together share one call (group commit).
 */
export class Reservations {
  private readonly reserveScript: ScriptCall;
  private readonly releaseScript: ScriptCall;
  private readonly markPersistedScript: ScriptCall;
  private readonly clearHoldingScript: ScriptCall;
  private readonly replicaAcks: ReplicaAcks | null;
  /** the confirmation of the reserve.lua call that wrote an OK result's order (with replica acks) */
  private readonly callConfirmations = new WeakMap<ReserveResult, Promise<void>>();
  private readonly groups: GroupCommit<ReserveItem, ReserveResult> | null;
  private readonly onReserveCall: (requests: number) => void;

  constructor(
    private readonly redis: RedisClient,
    { replicaAcks = null, groupCommit = DEFAULT_GROUP_LIMITS, onReserveCall = () => {} }: ReservationOptions = {},
  ) {
    this.onReserveCall = onReserveCall;
    this.replicaAcks = replicaAcks;
    if (groupCommit !== null && !(groupCommit.maxItems >= 1 && groupCommit.maxItems <= MAX_GROUP_ITEMS)) {
      throw new RangeError(`group commit carries 1 to ${MAX_GROUP_ITEMS} requests a call, not ${groupCommit.maxItems}`);
    }
    this.groups =
      groupCommit === null
        ? null
        : new GroupCommit(
            (_bucketKey, items) => this.reserveBatch(items[0].request.sku, items),
            groupCommit,
            ({ request, orderId }) => itemBytes(request, orderId),
          );
    this.reserveScript = defineScript(redis, 'reserve');
    this.releaseScript = defineScript(redis, 'release');
    this.markPersistedScript = defineScript(redis, 'mark-persisted');
    this.clearHoldingScript = defineScript(redis, 'clear-holding');
  }

  /**
   * Reserves for one buy request: in the next reserve.lua call for its SKU
   * (group commit), or in a call of its own. `ticketLease`: the admission
   * lease whose ticket the caller spent on it (reserve.lua keeps the ticket
   * only if it reserves). `now` (this process's clock) only names the order:
   * the sale window is judged on Redis's. With replicas to wait for, an
   * order id is answered (OK, DUPLICATE to a retry, LIMIT naming the user's
   * order) only once they hold it; otherwise NotReplicatedError — the
   * reservation stands on the master, and a retry with the same request id
   * is told its order.
   */
  async reserve(request: BuyRequest, now = Date.now(), ticketLease: string | null = null, bucket = 0): Promise<ReserveResult> {
    const item: ReserveItem = { request, orderId: newOrderId(request.sku, now, bucket), ticketLease, bucket };
    // One call = one bucket = one cluster slot.
    const result = this.groups ? await this.groups.submit(bucketName(request.sku, bucket), item) : (await this.reserveBatch(request.sku, [item]))[0];
    // An order reserve.lua wrote in this call, or its SOLD_OUT, is confirmed with the call's others, at once; an order it names (DUPLICATE, LIMIT) on its own.
    const ofCall = this.callConfirmations.get(result);
    if (ofCall !== undefined) {
      await ofCall;
      return result;
    }
    return this.confirmed(request.sku, result);
  }

  /**
   * `result` once replicas hold the order it names (with --replica-acks):
   * every answer that tells a buyer an order id goes through here, whether
   * reserve.lua gave it or the sold-out snapshot did. Rejects with
   * NotReplicatedError when they do not in time.
   */
  async confirmed<Result extends { orderId: string | null }>(sku: string, result: Result): Promise<Result> {
    if (this.replicaAcks !== null && result.orderId !== null) {
      await this.replicaAcks.confirm(fieldIn(skuKeys(sku, bucketOfOrderId(result.orderId)).reservations, result.orderId));
    }
    return result;
  }

  /**
   * One reserve.lua call deciding `items` (all of `sku`, all in the first
   * one's bucket) in the order given, each as if alone after the ones before
   * it; one result per item. No replica wait here: reserve() adds it.
   */
  async reserveBatch(sku: string, items: readonly ReserveItem[]): Promise<ReserveResult[]> {
    const k = skuKeys(sku, items[0]?.bucket ?? 0);
    const args: (string | number)[] = [sku, STOCK_EVENTS_CHANNEL];
    for (const { request, orderId, ticketLease } of items) {
      args.push(request.userId, request.qty, request.requestId ?? '', orderId, ticketLease ?? '');
    }
    // A slot moving under the call: sent again, which reserve.lua answers as the first run (it is keyed by the order ids).
    const keys = [k.stock, k.meta, k.holders, k.requests, k.reservations, k.outbox, k.admitted, k.ticketLeases];
    const replies = (await retryWhileMoving(() => this.reserveScript(keys, args))) as (string | number)[];
    this.onReserveCall(items.length);
    const results: ReserveResult[] = [];
    for (let i = 0; i < replies.length; i += 3) {
      const orderId = replies[i + 1] as string;
      const remaining = replies[i + 2] as number;
      results.push({ outcome: replies[i] as ReserveOutcome, orderId: orderId === '' ? null : orderId, remaining: remaining < 0 ? null : remaining });
    }
    if (this.replicaAcks !== null) this.confirmCall(k, items, results);
    return results;
  }

  /**
   * One confirmation for the answers of one reserve.lua call that a buyer
   * acts on: the orders it wrote (a single script's writes replicate
   * together, so the last of them held on a replica means all are) and its
   * SOLD_OUTs (the stock, after the call, still too low for each of them:
   * a master cut off from its replica sells out stock the promoted replica
   * still has, and its buyers must be told to retry, not that it is gone).
   * Started as soon as the call answered.
   */
  private confirmCall(k: SkuKeys, items: readonly ReserveItem[], results: readonly ReserveResult[]): void {
    const written = results.filter((r) => r.outcome === Outcome.OK);
    const refusedQty = items.filter((_, i) => results[i].outcome === Outcome.SOLD_OUT).map(({ request }) => request.qty);
    const looks = [
      ...(written.length > 0 ? [fieldIn(k.reservations, written.at(-1)!.orderId!)] : []),
      // Within a call the stock only goes down: below the smallest refused buy now, it was below each when refused.
      ...(refusedQty.length > 0 ? [countBelow(k.stock, Math.min(...refusedQty))] : []),
    ];
    if (looks.length === 0) return;
    const confirming = this.replicaAcks!.confirmAll(looks);
    confirming.catch(() => {}); // awaited by each reserve() of the call
    for (const r of results) if (r.outcome === Outcome.OK || r.outcome === Outcome.SOLD_OUT) this.callConfirmations.set(r, confirming);
  }

  /**
   * Returns the order's units to its bucket, which is its buyer's. With
   * replicas to wait for, resolves only once they hold the release (else
   * NotReplicatedError: the caller tries again; a second release is a no-op).
   */
  async release(sku: string, orderId: string, reason: string, now = Date.now()): Promise<ReleaseResult> {
    const k = skuKeys(sku, bucketOfOrderId(orderId));
    const [outcome, remaining] = (await this.releaseScript(
      [k.stock, k.meta, k.holders, k.reservations],
      [orderId, reason, now, sku, STOCK_EVENTS_CHANNEL],
    )) as [ReleaseOutcome, number];
    if (outcome === Outcome.RELEASED || outcome === Outcome.ALREADY_RELEASED) await this.replicaAcks?.confirm(markedIn(k.reservations, orderId, 'releasedAt'));
    return { outcome, remaining: remaining < 0 ? null : remaining };
  }

  /**
   * Marks the orders of one SKU as written to MySQL; returns how many were
   * newly marked. With replicas to wait for, resolves only once they hold the
   * marks (else NotReplicatedError: the consumer marks again, which changes
   * nothing twice): a mark lost in a failover would leave an order in MySQL
   * counted as in flight for ever.
   */
  async markPersisted(sku: string, orderIds: string[], now = Date.now()): Promise<number> {
    const byBucket = [...groupBy(orderIds, bucketOfOrderId)];
    const marked = await Promise.all(byBucket.map(([bucket, ids]) => this.markPersistedScript([skuKeys(sku, bucket).reservations], [now, ...ids])));
    await this.replicaAcks?.confirmAll(byBucket.flatMap(([bucket, ids]) => ids.map((id) => markedIn(skuKeys(sku, bucket).reservations, id, 'persistedAt'))));
    return marked.reduce<number>((n, m) => n + Number(m), 0);
  }

  /** Takes `orderId` out of the user's holding if it still lists it; true when it did. */
  async clearHolding(sku: string, userId: string, orderId: string): Promise<boolean> {
    return Number(await this.clearHoldingScript([skuKeys(sku, bucketOfOrderId(orderId)).holders], [userId, orderId])) === 1;
  }

  /** Order ids waiting in the SKU's outboxes (not yet delivered). */
  async queued(sku: string): Promise<Set<string>> {
    const outboxes = await Promise.all((await bucketKeysOf(this.redis, sku)).map((k) => this.redis.xrange(k.outbox, '-', '+')));
    const entries = outboxes.flat() as [string, string[]][];
    const texts = entries.flatMap(([, fields]) => eventTexts(streamMessage(fields)));
    return new Set(texts.map((text) => (JSON.parse(text || '{}') as Partial<OrderEvent>).orderId ?? ''));
  }

  /**
   * Puts a reservation's order event in the outbox again, for the pipeline to
   * deliver (the consumer applies an order id once, so a second delivery is
   * harmless). False when there is no such reservation.
   */
  async redrive(sku: string, orderId: string): Promise<boolean> {
    const record = await this.get(sku, orderId);
    if (record === null) return false;
    const { orderId: id, sku: s, userId, qty, requestId, createdAt } = record;
    const event: OrderEvent = { orderId: id, sku: s, userId, qty, requestId, createdAt };
    await this.redis.xadd(skuKeys(sku, bucketOfOrderId(orderId)).outbox, '*', STREAM_FIELD, JSON.stringify(event));
    return true;
  }

  async get(sku: string, orderId: string): Promise<ReservationRecord | null> {
    const raw = await this.redis.hget(skuKeys(sku, bucketOfOrderId(orderId)).reservations, orderId);
    return raw === null ? null : (JSON.parse(raw) as ReservationRecord);
  }
}

/** What a request adds to a reserve.lua call, in bytes: its ids, and about 30 for the numbers and the protocol's framing. */
const itemBytes = (request: BuyRequest, orderId: string): number => request.userId.length + (request.requestId?.length ?? 0) + orderId.length + 30;
