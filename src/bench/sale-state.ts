import type { Answer } from './load-plan.js';

/**
 * Everything the invariant checker looks at, read from Redis and MySQL once
 * the pipeline has drained, plus what the buyers were answered. Plain data,
 * so the checker is a pure function and can be tested on doctored state.
 */
export interface OrderFact {
  orderId: string;
  userId: string;
  /** the buyer's idempotency key ('' when none was sent) */
  requestId?: string;
  qty: number;
  status: 'PENDING' | 'PAID' | 'CANCELLED';
  reason: string | null;
}

export interface ReservationFact {
  orderId: string;
  userId: string;
  qty: number;
  persisted: boolean;
  /** when it was written to MySQL (ms since epoch), if known */
  persistedAt?: number;
  released: boolean;
  reason: string | null;
}

export interface SkuState {
  sku: string;
  initialStock: number;
  /** most units one user may hold */
  limit: number;
  mysqlStock: number;
  /** null when the strategy does not use Redis (the MySQL baselines, the ceiling) */
  redisStock: number | null;
  orders: OrderFact[];
  /** Redis reservation records; empty for strategies that do not use Redis */
  reservations: ReservationFact[];
  /** true when the scenario admitted more distinct buyers than units: nothing may be left unsold */
  expectSellOut: boolean;
}

export interface SaleState {
  /** 'seckill' checks Redis too; the baselines are checked on MySQL alone */
  usesRedis: boolean;
  skus: SkuState[];
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
