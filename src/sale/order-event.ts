import { REQUEST_ID_PATTERN, SKU_PATTERN, skuOfOrderId, USER_ID_PATTERN } from './ids.js';

/**
 * The order event: what reserve.lua writes to the outbox and the relay
 * carries to Kafka, verbatim. Validated once where it enters a consumer.
 */
export interface OrderEvent {
  orderId: string;
  sku: string;
  userId: string;
  qty: number;
  /** '' when the buyer sent none */
  requestId: string;
  /** ms since epoch, when it was reserved */
  createdAt: number;
}

/**
 * An outbox entry, and a Kafka message, carries one or more order events,
 * one JSON text per line: reserve.lua writes one entry per call (group
 * commit), the relay bundles entries into messages, and neither has to parse
 * a JSON text to do so. JSON never holds a raw newline (it escapes them in
 * strings), so a line is always one whole event.
 */
export const EVENT_SEPARATOR = '\n';

/** The order events (JSON texts) one entry or message carries. */
export const eventTexts = (message: string): string[] => message.split(EVENT_SEPARATOR);

/** How many order events a message carries, without splitting it. */
export const eventCount = (message: string): number => {
  let n = 1;
  for (let at = message.indexOf(EVENT_SEPARATOR); at !== -1; at = message.indexOf(EVENT_SEPARATOR, at + 1)) n += 1;
  return n;
};

export type ParsedEvent = { ok: true; event: OrderEvent } | { ok: false; reason: string };

export const parseOrderEvent = (raw: string): ParsedEvent => {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'NOT_JSON' };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { ok: false, reason: 'NOT_AN_OBJECT' };
  const { orderId, sku, userId, qty, requestId, createdAt } = o as Record<string, unknown>;
  const bad = (field: string) => ({ ok: false as const, reason: `INVALID_${field}` });
  if (typeof sku !== 'string' || !SKU_PATTERN.test(sku)) return bad('SKU');
  if (typeof orderId !== 'string' || skuOfOrderId(orderId) !== sku) return bad('ORDER_ID');
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) return bad('USER_ID');
  if (typeof qty !== 'number' || !Number.isSafeInteger(qty) || qty < 1) return bad('QTY');
  if (typeof requestId !== 'string' || (requestId !== '' && !REQUEST_ID_PATTERN.test(requestId))) return bad('REQUEST_ID');
  if (typeof createdAt !== 'number' || !Number.isSafeInteger(createdAt) || createdAt <= 0) return bad('CREATED_AT');
  return { ok: true, event: { orderId, sku, userId, qty, requestId, createdAt } };
};
