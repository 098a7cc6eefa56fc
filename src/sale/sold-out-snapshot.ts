import type { RedisClient } from '../redis/connection.js';
import { META, requestField } from '../redis/keys.js';
import { countBelow, type ReplicaAcks } from '../redis/replica-acks.js';
import { execAll } from '../redis/transaction.js';
import { bucketKeysOf } from './buckets.js';
import { heldUnits, parseHolding } from './holdings.js';
import { Outcome } from './outcomes.js';
import type { BuyRequest, ReserveResult } from './reservations.js';

/**
 * What a server process needs to answer every buyer of a sold-out SKU as
 * reserve.lua would, without asking Redis: the request ids that reserved
 * (a retry gets its order id again) and the holdings (a user at the limit
 * gets theirs). Bounded by the units ever sold; read once when the SKU sells
 * out, and good until units come back (`released` changes).
 */
export interface SoldOutSnapshot {
  limit: number;
  /** meta `released` when read (summed over the buckets): units returned to sale so far */
  released: number;
  /** requestField(userId, requestId) → orderId */
  requests: Map<string, string>;
  /** userId → units held and the newest order id */
  holders: Map<string, { units: number; newestOrderId: string | null }>;
}

/**
 * One atomic read of a sold-out SKU — of each of its buckets, for a bucketed
 * one (a user's request ids and holding are all in their own bucket, so the
 * buckets' maps never overlap); null when it is not sold out (or not loaded)
 * any more.
 *
 * With replicas to wait for (--replica-acks), the read counts only once they
 * hold what it saw (else NotReplicatedError, and the buyer retries): a master
 * cut off from its replica sells on alone, and its snapshot would tell
 * SOLD_OUT to buyers whose orders the promoted replica holds. A read a
 * replica confirmed is the sale's: no master sells from a stock of 0, so
 * every order of the SKU is in it until units are released (`released`).
 */
export const readSoldOutSnapshot = async (redis: RedisClient, sku: string, replicaAcks: ReplicaAcks | null = null): Promise<SoldOutSnapshot | null> => {
  const bucketKeys = await bucketKeysOf(redis, sku);
  const buckets = await Promise.all(
    bucketKeys.map(
      async (k) =>
        (await execAll(redis.multi().get(k.stock).hmget(k.meta, META.limit, META.released).hgetall(k.holders).hgetall(k.requests))) as [
          string | null,
          (string | null)[],
          Record<string, string>,
          Record<string, string>,
        ],
    ),
  );
  const [, meta] = buckets[0];
  if (meta[0] === null || buckets.some(([stock]) => stock === null || Number(stock) > 0)) return null;
  await replicaAcks?.confirmAll(bucketKeys.map((k) => countBelow(k.stock, 1)));
  const held = new Map<string, { units: number; newestOrderId: string | null }>();
  const requests = new Map<string, string>();
  let released = 0;
  for (const [, bucketMeta, holders, requested] of buckets) {
    released += Number(bucketMeta[1] ?? 0);
    for (const [userId, raw] of Object.entries(holders)) {
      const orders = parseHolding(raw);
      held.set(userId, { units: heldUnits(orders), newestOrderId: orders.at(-1)?.orderId ?? null });
    }
    for (const [field, orderId] of Object.entries(requested)) requests.set(field, orderId);
  }
  return { limit: Number(meta[0]), released, requests, holders: held };
};

const SOLD_OUT: ReserveResult = { outcome: Outcome.SOLD_OUT, orderId: null, remaining: 0 };

/** reserve.lua's answer for a sold-out SKU, in its order: the retry, then the limit, then sold out. */
export const answerSoldOut = (snapshot: SoldOutSnapshot, request: BuyRequest): ReserveResult => {
  if (request.requestId !== undefined) {
    const orderId = snapshot.requests.get(requestField(request.userId, request.requestId));
    if (orderId !== undefined) return { outcome: Outcome.DUPLICATE, orderId, remaining: null };
  }
  const holding = snapshot.holders.get(request.userId);
  if ((holding?.units ?? 0) + request.qty > snapshot.limit) return { outcome: Outcome.LIMIT, orderId: holding?.newestOrderId ?? null, remaining: null };
  return SOLD_OUT;
};
