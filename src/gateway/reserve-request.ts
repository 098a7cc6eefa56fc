import { REQUEST_ID_PATTERN, SKU_PATTERN, USER_ID_PATTERN } from '../sale/ids.js';
import type { BuyRequest } from '../sale/reservations.js';

/** Largest quantity one request may ask for; the SKU's own limit is checked in reserve.lua. */
export const MAX_QTY = 10_000;

const FIELDS = new Set(['sku', 'userId', 'qty', 'requestId']);

export type Parsed = { ok: true; request: BuyRequest } | { ok: false; message: string };

const bad = (message: string): Parsed => ({ ok: false, message });

/** Validates a `POST /reserve` body, once, at the edge. */
export const parseReserveBody = (text: string): Parsed => {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return bad('body must be JSON: {"sku": "...", "userId": "...", "qty": 1, "requestId": "..."}');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const key in o) if (!FIELDS.has(key)) return bad(`unknown field ${JSON.stringify(key.slice(0, 64))}`);
  const { sku, userId, qty = 1, requestId } = o;
  if (typeof sku !== 'string' || !SKU_PATTERN.test(sku)) return bad('sku must be 1-64 characters of A-Z a-z 0-9 _ -');
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) return bad('userId must be 1-64 characters of A-Z a-z 0-9 _ . : @ -');
  if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1 || qty > MAX_QTY) return bad(`qty must be a whole number from 1 to ${MAX_QTY}`);
  if (requestId !== undefined && (typeof requestId !== 'string' || !REQUEST_ID_PATTERN.test(requestId))) {
    return bad('requestId must be 1-64 characters of A-Z a-z 0-9 _ . : -');
  }
  return { ok: true, request: requestId === undefined ? { sku, userId, qty } : { sku, userId, qty, requestId } };
};
