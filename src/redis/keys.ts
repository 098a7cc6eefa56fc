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

/** A bucket's name: the SKU for bucket 0 (so an unbucketed SKU is its own bucket), `sku#b` for bucket b. Its keys' hash tag, and how processes name a bucket. */
export const bucketName = (sku: string, bucket: number): string => (bucket === 0 ? sku : `${sku}#${bucket}`);

export const skuKeys = (sku: string, bucket = 0) => {
  const tag = `${PREFIX}:{${bucketName(sku, bucket)}}`;
  return {
    /** integer: units still on sale */
    stock: `${tag}:stock`,
    /** hash: the sale's settings and counters, fields in META below */
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
 * The fields of a SKU's (a bucket's) meta hash: the one list of them.
 * TypeScript reads and writes them by these names; each Lua script's header
 * documents those it reads, and reads them by the same names.
 */
export const META = {
  /** units the bucket was put on sale with */
  initial: 'initial',
  /** the most units one user may hold */
  limit: 'limit',
  /** the sale window, ms since epoch on Redis's clock (0: open) */
  startsAt: 'startsAt',
  endsAt: 'endsAt',
  /** units returned to sale so far (release.lua): raises the admission cap, and tells a reader units came back */
  released: 'released',
  /** set while reconcile resets the SKU or close removes it: nothing is bought */
  frozen: 'frozen',
  /** when the sale was closed (close): it is ended whatever the time */
  closedAt: 'closedAt',
  /** bucket 0 of a bucketed SKU: how many buckets; every bucket: its index */
  buckets: 'buckets',
  bucket: 'bucket',
  /** units moved out of and into this bucket by transfers */
  sent: 'sent',
  received: 'received',
  /** bucket 0 of a bucketed SKU: the returned units at the last SOLD_OUT announcement (announce-sold-out.lua) */
  soldOutAnnounced: 'soldOutAnnounced',
} as const;

export type MetaField = (typeof META)[keyof typeof META];

/**
 * A field of a SKU's `requests` hash: request ids are chosen by each buyer's
 * client, so the same id of two users is two requests (user ids hold no `/`).
 * reserve.lua builds the same field from its ARGV.
 */
export const requestField = (userId: string, requestId: string): string => `${userId}/${requestId}`;

/**
 * The key written just before a WAIT that confirms a write to `key`: in
 * `key`'s slot (its hash tag's, or `key` itself as the tag when it has none),
 * so it goes to the same master. For a SKU's key it is the bucket's `replicaAck`.
 */
export const replicaAckKeyOf = (key: string): string => {
  const tag = /\{([^}]+)\}/.exec(key)?.[1] ?? key;
  return `${PREFIX}:{${tag}}:replica-ack`;
};

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
 * Hash: the fleet's rate limit (a token bucket of permits) of `serve --rate/--burst` (see
 * take-rate-permits.lua). Every server process started with the same rate and
 * burst shares this one pool; it lives in one cluster slot and costs one
 * call per lease of permits, not one per request. Processes started with other
 * settings get a pool of their own rather than refill this one at a rate
 * they were not given.
 */
export const rateLimitKey = (rate: number, burst: number): string => `${PREFIX}:{rate}:permits:${rate}:${burst}`;
