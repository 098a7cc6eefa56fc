import type { SkuState } from '../sale/state.js';
import type { Answer } from './load-plan.js';

/**
 * Everything the invariant checker looks at: each SKU's state as both stores
 * hold it once the pipeline has drained (src/sale/state.ts), what the
 * scenario expected of it, and what the buyers were answered. Plain data, so
 * the checker is a pure function and can be tested on doctored state.
 */
export interface JudgedSku extends SkuState {
  /** true when the scenario admitted more distinct buyers than units: nothing may be left unsold */
  expectSellOut: boolean;
}

export interface SaleState {
  /** 'seckill' checks Redis too; the baselines are checked on MySQL alone */
  usesRedis: boolean;
  skus: JudgedSku[];
  /** every 201 and every 409 that carried an order id (first attempts and retries of lost replies), in the order received */
  answers: Answer[];
  /** 429 ADMISSION_CLOSED answers per SKU */
  admissionClosed?: Record<string, number>;
  /** requests whose outcome the load generator never learned (cut when it stopped, by a dead connection, a timeout, or answered 5xx): an order may exist for them */
  unread?: { sku: string; userId: string; requestId: string }[];
}

export interface InvariantResult {
  name: string;
  ok: boolean;
  /** what broke, with the offending ids (at most a few), or a one-line summary when ok */
  detail: string;
}
