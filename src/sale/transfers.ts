import { randomBytes } from 'node:crypto';
import { crashPoint } from '../crash-points.js';
import type { RedisClient } from '../redis/connection.js';
import { bucketName, META, skuKeys, STOCK_EVENTS_CHANNEL } from '../redis/keys.js';
import { fieldIn, type ReplicaAcks } from '../redis/replica-acks.js';
import { defineScript, type ScriptCall } from '../redis/scripts.js';
import { execAll } from '../redis/transaction.js';
import { bucketCount, bucketIndexes } from './buckets.js';
import { Outcome, type TransferInOutcome, type TransferOutOutcome } from './outcomes.js';

/**
 * Moving units between the buckets of a hot SKU (buckets.ts), and the one
 * place that decides a bucketed SKU is sold out.
 *
 * A transfer is three steps, each atomic in one slot: transfer-out.lua debits
 * the donor and writes a record naming the transfer (donor's slot);
 * transfer-in.lua credits the recipient once per transfer id (recipient's
 * slot); an HDEL deletes the record. Between the steps the units are "in
 * transfer", named by the record, so a crash creates or loses nothing and
 * whoever finds the record — a buyer's refill, reconcile — finishes it.
 *
 * Sold out is proven, not guessed: a bucket's stock plus the units its
 * records name only grows by a credit or a release, which bump its meta
 * `received` or `released`. Two reads of every bucket that find every one
 * empty, with no record, and both counters unchanged, prove there was an
 * instant between them when no unit was anywhere (a double collect). Only
 * then is SOLD_OUT answered and announced — so no buyer is refused while a
 * unit is left in another bucket or on its way.
 */

/** One transfer between two buckets, as its record in the donor's `transfers` hash holds it. */
export interface TransferRecord {
  id: string;
  from: number;
  to: number;
  units: number;
  /** when step 1 ran, ms since epoch */
  at: number;
}

/** One bucket read atomically (one MULTI in its slot). */
export interface BucketReading {
  bucket: number;
  loaded: boolean;
  frozen: boolean;
  stock: number;
  /** transfers this bucket sent that are not finished */
  sending: TransferRecord[];
  /** meta counters that grow whenever units come into the bucket */
  released: number;
  received: number;
}

export type RefillOutcome =
  /** the bucket holds enough for the buyer now (or a top-up moved what it could) */
  | { outcome: 'REFILLED' }
  /** proven: fewer than `need` units in all the buckets together; `remaining` is how many there are, `released` the buckets' meta `released` summed */
  | { outcome: 'SOLD_OUT'; remaining: number; released: number }
  | { outcome: 'FROZEN' }
  | { outcome: 'NOT_LOADED' }
  /** other buyers kept moving the units for longer than a buyer waits: ask again */
  | { outcome: 'BUSY' };

export interface TransferEvents {
  /** a transfer step ran: `sent` units debited, `credited` finished, `finished-elsewhere` already credited by another */
  onStep?: (step: 'sent' | 'credited' | 'finished-elsewhere') => void;
}

/** A buyer waits at most this many reads-and-moves for its bucket to be refilled (each a few round trips). */
const REFILL_ROUNDS = 8;

/** Every bucket of a SKU, each read atomically (together they are not: see the sold-out proof above). */
export const readBuckets = (redis: RedisClient, sku: string, buckets: number): Promise<BucketReading[]> =>
  Promise.all(
    bucketIndexes(buckets).map(async (bucket) => {
      const k = skuKeys(sku, bucket);
      const [stock, meta, sending] = (await execAll(
        redis.multi().get(k.stock).hmget(k.meta, META.initial, META.frozen, META.released, META.received).hvals(k.transfers),
      )) as [string | null, (string | null)[], string[]];
      return {
        bucket,
        loaded: meta[0] !== null,
        frozen: meta[1] !== null,
        stock: Number(stock ?? 0),
        sending: sending.map((raw) => JSON.parse(raw) as TransferRecord),
        released: Number(meta[2] ?? 0),
        received: Number(meta[3] ?? 0),
      };
    }),
  );

/**
 * Units in transfer: debited from a donor, not yet credited. A record whose
 * id the recipient already holds is credited (only its deletion is left), so
 * it is not counted twice.
 */
export const unitsInTransfer = async (redis: RedisClient, sku: string): Promise<number> => {
  const buckets = await bucketCount(redis, sku);
  if (buckets === 1) return 0;
  const records = (await readBuckets(redis, sku, buckets)).flatMap((r) => r.sending);
  const credited = await Promise.all(records.map((t) => redis.hexists(skuKeys(sku, t.to).received, t.id)));
  return records.reduce((n, t, i) => n + (credited[i] === 1 ? 0 : t.units), 0);
};

const newTransferId = (): string => `${Date.now().toString(36)}-${randomBytes(6).toString('base64url')}`;

export class StockTransfers {
  private readonly outScript: ScriptCall;
  private readonly inScript: ScriptCall;
  private readonly announceScript: ScriptCall;
  /** refills under way in this process, by `sku#bucket`: a crowd on one empty bucket shares one */
  private readonly refilling = new Map<string, Promise<RefillOutcome>>();
  /** top-ups under way in this process, by `sku#bucket`: every sale from a low bucket asks for one, one at a time is enough */
  private readonly toppingUp = new Set<string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly events: TransferEvents = {},
    /** with --replica-acks: each step confirmed by replicas before the next (see finish) */
    private readonly replicaAcks: ReplicaAcks | null = null,
  ) {
    this.outScript = defineScript(redis, 'transfer-out');
    this.inScript = defineScript(redis, 'transfer-in');
    this.announceScript = defineScript(redis, 'announce-sold-out');
  }

  /**
   * Moves up to `units` from bucket `from` to bucket `to`: step 1, step 2,
   * step 3. Returns the units moved (0 when the donor had none left).
   */
  async send(sku: string, from: number, to: number, units: number, now = Date.now()): Promise<number> {
    const id = newTransferId();
    const k = skuKeys(sku, from);
    const [outcome, sent] = (await this.outScript([k.stock, k.meta, k.transfers, k.sentTransfers], [id, to, units, now])) as [
      TransferOutOutcome,
      number,
      number,
    ];
    if (outcome !== Outcome.SENT) return 0;
    this.events.onStep?.('sent');
    crashPoint('transfer:between-steps');
    await this.finish(sku, { id, from, to, units: sent, at: now });
    return sent;
  }

  /**
   * Steps 2 and 3 of a transfer whose record was found: credit once, then
   * delete the record. With --replica-acks, the debit must be on the donor's
   * replicas before the credit (a debit lost in a failover after its credit
   * would create units), and the credit on the recipient's before the record
   * goes (a credit lost after it would lose them); unconfirmed, the record
   * stays and whoever finds it finishes the transfer later.
   */
  async finish(sku: string, record: TransferRecord): Promise<TransferInOutcome> {
    const donor = skuKeys(sku, record.from);
    await this.replicaAcks?.confirm(fieldIn(donor.sentTransfers, record.id));
    const k = skuKeys(sku, record.to);
    const [outcome] = (await this.inScript([k.stock, k.meta, k.received], [record.id, record.units])) as [TransferInOutcome, number];
    if (outcome === Outcome.CREDITED || outcome === Outcome.ALREADY_CREDITED) {
      this.events.onStep?.(outcome === Outcome.CREDITED ? 'credited' : 'finished-elsewhere');
      await this.replicaAcks?.confirm(fieldIn(k.received, record.id));
      await this.redis.hdel(donor.transfers, record.id);
    }
    return outcome;
  }

  /** Finishes every transfer of a SKU under way (or left half-done by a crash); returns how many it finished. */
  async finishAll(sku: string): Promise<number> {
    const readings = await readBuckets(this.redis, sku, await bucketCount(this.redis, sku));
    const outcomes = await Promise.all(readings.flatMap((r) => r.sending).map((record) => this.finish(sku, record)));
    return outcomes.filter((o) => o === Outcome.CREDITED || o === Outcome.ALREADY_CREDITED).length;
  }

  /**
   * Makes bucket `to` hold `need` units for a buyer, moving them from the
   * other buckets; shared by this process's buyers of that bucket. SOLD_OUT
   * only when proven (see above); when it is, with nothing left at all, it
   * is announced to every server process, once per sell-out (announce-sold-out.lua).
   */
  refill(sku: string, to: number, need: number, buckets: number): Promise<RefillOutcome> {
    const key = bucketName(sku, to);
    let pending = this.refilling.get(key);
    if (pending === undefined) {
      pending = this.refillRounds(sku, to, Math.max(1, need), buckets).finally(() => this.refilling.delete(key));
      this.refilling.set(key, pending);
    }
    // A shared refill made room for its first buyer; one who needs more asks again.
    return pending;
  }

  /**
   * Evens out bucket `to` with the fullest other bucket when it holds at
   * least `minUnits` more: a bucket running low is topped up before its
   * buyers find it empty. Never proves or announces a sell-out.
   */
  async topUp(sku: string, to: number, minUnits: number, buckets: number): Promise<number> {
    const key = bucketName(sku, to);
    if (this.refilling.has(key) || this.toppingUp.has(key)) return 0;
    this.toppingUp.add(key);
    try {
      return await this.topUpOnce(sku, to, minUnits, buckets);
    } finally {
      this.toppingUp.delete(key);
    }
  }

  private async topUpOnce(sku: string, to: number, minUnits: number, buckets: number): Promise<number> {
    const readings = await readBuckets(this.redis, sku, buckets);
    const donor = fullestOther(readings, to);
    const own = readings[to];
    if (donor === undefined || !own.loaded || own.frozen) return 0;
    const units = Math.floor((donor.stock - own.stock) / 2);
    return units >= minUnits ? this.send(sku, donor.bucket, to, units) : 0;
  }

  private async refillRounds(sku: string, to: number, need: number, buckets: number): Promise<RefillOutcome> {
    for (let round = 0; round < REFILL_ROUNDS; round++) {
      const first = await readBuckets(this.redis, sku, buckets);
      if (first.some((r) => !r.loaded)) return { outcome: 'NOT_LOADED' };
      if (first.some((r) => r.frozen)) return { outcome: 'FROZEN' };
      const own = first[to];
      if (own.stock >= need) return { outcome: 'REFILLED' };
      const sending = first.flatMap((r) => r.sending);
      if (sending.length > 0) {
        // Someone's transfer is under way, or was cut off by a crash: finish it (idempotent) and look again.
        await Promise.all(sending.map((record) => this.finish(sku, record)));
        continue;
      }
      const donor = fullestOther(first, to);
      if (donor !== undefined) {
        // What the buyer lacks, or half the difference if that is more, so a hot bucket is not refilled a unit at a time.
        await this.send(sku, donor.bucket, to, Math.max(need - own.stock, Math.ceil((donor.stock - own.stock) / 2)));
        continue;
      }
      // Nothing in another bucket, nothing on its way: proven only if a second read sees nothing come in meanwhile.
      const second = await readBuckets(this.redis, sku, buckets);
      if (
        second.every((r, b) => r.stock === first[b].stock && r.sending.length === 0 && r.released === first[b].released && r.received === first[b].received)
      ) {
        const released = second.reduce((n, r) => n + r.released, 0);
        if (own.stock === 0) await this.announceScript([skuKeys(sku).meta], [released, STOCK_EVENTS_CHANNEL, sku]);
        return { outcome: 'SOLD_OUT', remaining: own.stock, released };
      }
    }
    return { outcome: 'BUSY' };
  }
}

/** The other bucket with the most units, if any has one. */
const fullestOther = (readings: readonly BucketReading[], to: number): BucketReading | undefined =>
  readings.filter((r) => r.bucket !== to && r.stock > 0).sort((a, b) => b.stock - a.stock)[0];
