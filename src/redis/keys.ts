/**
 * The Redis key schema: the only place that spells a key.
 *
 * Every key of a SKU carries the hash tag `{sku}`, so that one script call
 * touches a single Redis Cluster slot. SKU ids are validated before they get
 * here (`SKU_PATTERN` in sale/ids.ts), so they never contain `{`, `}` or `#`.
 *
 * A hot SKU preloaded with `--buckets B` keeps its stock in B buckets, each
 * with every key below under a hash tag of its own — `{sku}` for bucket 0
 * (today's layout, so B = 1 is unchanged), `{sku#b}` for bucket b — so the
 * buckets spread over the cluster's masters (see sale/buckets.ts).
 */

const PREFIX = 'seckill';

export const skuKeys = (sku: string, bucket = 0) => {
  const tag = bucket === 0 ? `${PREFIX}:{${sku}}` : `${PREFIX}:{${sku}#${bucket}}`;
  return {
    /** integer: units still on sale */
    stock: `${tag}:stock`,
    /** hash: initial, limit, startsAt, endsAt (ms since epoch, 0 = open), released */
    meta: `${tag}:meta`,
    /** hash: userId → the user's live reservations, `orderId:qty` tokens (see sale/holdings.ts) */
    holders: `${tag}:holders`,
    /** hash: requestField(userId, requestId) → orderId, the idempotency record */
    requests: `${tag}:requests`,
    /** hash: orderId → JSON reservation record (see sale/reservations.ts) */
    reservations: `${tag}:reservations`,
    /** stream: one entry per reservation, read by the relay */
    outbox: `${tag}:outbox`,
    /** integer: admission tickets that bought, spent on requests reserve.lua answered OK (see take-tickets.lua) */
    admitted: `${tag}:admitted`,
    /** hash: admission lease id (`<deadline ms>.<holder>.<n>`) → tickets the lease still holds (see take-tickets.lua) */
    ticketLeases: `${tag}:ticket-leases`,
    /** hash: transferId → JSON transfer record, units this bucket sent that the other may not have yet (see transfer-out.lua) */
    transfers: `${tag}:transfers`,
    /** hash: transferId → units, every transfer this bucket sent (transfer-out.lua's idempotency record; kept after the transfer's record goes) */
    sentTransfers: `${tag}:sent-transfers`,
    /** hash: transferId → units, the transfers this bucket was credited with (transfer-in.lua's idempotency record) */
    received: `${tag}:received`,
    /** string, expiring: written just before a WAIT so that it covers every earlier write of this master (see redis/replica-acks.ts) */
    replicaAck: `${tag}:replica-ack`,
  };
};

export type SkuKeys = ReturnType<typeof skuKeys>;

/**
 * A field of a SKU's `requests` hash: request ids are chosen by each buyer's
 * client, so the same id of two users is two requests (user ids hold no `/`).
 * reserve.lua builds the same field from its ARGV.
 */
export const requestField = (userId: string, requestId: string): string => `${userId}/${requestId}`;

/** Every key of a SKU's bucket, for reset and for before/after snapshots. */
export const allSkuKeys = (sku: string, bucket = 0): string[] => Object.values(skuKeys(sku, bucket));

/**
 * The one field of a stream entry (outbox or dead letters): its message, a
 * JSON text. reserve.lua writes the outbox's with this name too.
 */
export const STREAM_FIELD = 'event';

/** A stream entry's message: the value of its one field. */
export const streamMessage = (fields: string[]): string => fields[fields.indexOf(STREAM_FIELD) + 1] ?? '';

/** Set of every SKU on sale in this Redis (preloaded and not closed), so relays, sweepers and reconcile can find them. */
export const SKU_INDEX_KEY = `${PREFIX}:skus`;

/**
 * Pub/sub channel that keeps each process's local sold-out flag in step.
 * Messages are `SOLD_OUT <sku>` and `ON_SALE <sku>`.
 */
export const STOCK_EVENTS_CHANNEL = `${PREFIX}:stock-events`;

/** Stream of dead letters when the queue is Redis (`--queue redis`); with Kafka it is a topic. */
export const DEAD_LETTER_STREAM = `${PREFIX}:dead-letters`;

/**
 * Hash: the fleet's token bucket of `serve --rate/--burst` (see
 * take-rate-tokens.lua). Every server process started with the same rate and
 * burst shares this one bucket; it lives in one cluster slot and costs one
 * call per lease of tokens, not one per request. Processes started with other
 * settings get a bucket of their own rather than refill this one at a rate
 * they were not given.
 */
export const rateBucketKey = (rate: number, burst: number): string => `${PREFIX}:{rate}:bucket:${rate}:${burst}`;
