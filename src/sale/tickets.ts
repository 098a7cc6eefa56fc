import type { RedisClient } from '../redis/connection.js';
import { skuKeys } from '../redis/keys.js';
import { retryWhileMoving } from '../redis/redirected.js';
import { defineScript, type ScriptCall } from '../redis/scripts.js';
import type { TicketsOutcome } from './outcomes.js';

/** take-tickets.lua's answer: the outcome, its detail (tickets granted, `released`, or ms until the opening), and the lease's id when granted. */
export interface TicketsAnswer {
  outcome: TicketsOutcome;
  detail: number;
  /** the lease the tickets were granted under ('' unless ADMITTED) */
  leaseId: string;
}

/**
 * The admission cap's shared count: typed calls over take-tickets.lua, which
 * leases a server process a chunk of tickets until a deadline, and
 * return-tickets.lua, which gives back what a lease did not spend (see the
 * scripts' headers).
 */
export class AdmissionCounter {
  private readonly takeScript: ScriptCall;
  private readonly returnScript: ScriptCall;

  constructor(redis: RedisClient) {
    this.takeScript = defineScript(redis, 'take-tickets');
    this.returnScript = defineScript(redis, 'return-tickets');
  }

  /**
   * Tickets for a SKU, or for one bucket of a bucketed SKU (each bucket has a
   * cap of its own), under a lease named `leaseName` (unique per call) that
   * lasts `leaseMs` on Redis's clock.
   */
  async take(sku: string, bucket: number, chunk: number, factor: number, leaseName: string, leaseMs: number): Promise<TicketsAnswer> {
    const k = skuKeys(sku, bucket);
    // Sent again while its slot moves: a take run twice answers its lease again (take-tickets.lua).
    const [outcome, detail, leaseId] = (await retryWhileMoving(() =>
      this.takeScript([k.admitted, k.ticketLeases, k.meta, k.stock], [chunk, factor, leaseName, leaseMs]),
    )) as [TicketsOutcome, number, string];
    return { outcome, detail, leaseId };
  }

  /** Gives back `unspent` tickets of a lease; resolves with what it still holds for requests not yet decided. */
  async giveBack(sku: string, bucket: number, leaseId: string, unspent: number): Promise<number> {
    return Number(await this.returnScript([skuKeys(sku, bucket).ticketLeases], [leaseId, unspent]));
  }
}
