import type { RedisClient } from '../redis/connection.js';
import { skuKeys } from '../redis/keys.js';
import { defineScript, type ScriptCall } from '../redis/scripts.js';
import type { TicketsOutcome } from './outcomes.js';

/** take-tickets.lua's answer: the outcome, and its detail (tickets granted, `released`, or the opening time). */
export interface TicketsAnswer {
  outcome: TicketsOutcome;
  detail: number;
}

/**
 * The admission cap's shared counter: a typed call over take-tickets.lua,
 * which hands a server process a chunk of tickets (see the script's header).
 */
export class AdmissionCounter {
  private readonly script: ScriptCall;

  constructor(redis: RedisClient) {
    this.script = defineScript(redis, 'take-tickets', 3);
  }

  /** Tickets for a SKU, or for one bucket of a bucketed SKU (each bucket has a cap of its own). */
  async take(sku: string, chunk: number, factor: number, now: number, bucket = 0): Promise<TicketsAnswer> {
    const k = skuKeys(sku, bucket);
    const [outcome, detail] = (await this.script([k.admitted, k.meta, k.stock], [chunk, factor, now])) as [TicketsOutcome, number];
    return { outcome, detail };
  }
}
