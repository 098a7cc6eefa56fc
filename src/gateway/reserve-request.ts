import { REQUEST_ID_PATTERN, SKU_PATTERN, USER_ID_PATTERN } from '../sale/ids.js';
import type { BuyRequest } from '../sale/reservations.js';

/** Largest quantity one request may ask for; the SKU's own limit is checked in reserve.lua. */
export const MAX_QTY = 10_000;

const FIELDS = new Set(['sku', 'userId', 'qty', 'requestId']);
/** With purchase tokens required (`serve --require-token`) the body also carries one. */
const FIELDS_WITH_TOKEN = new Set([...FIELDS, 'token']);

/**
 * The buy a body asks for, all but its buyer: `userId` is the one the body
 * names, if any, and who buys is decided by the buyer check (buyer.ts): the
 * body's word with `--auth none`, the bearer token's sub with `--auth jwt`.
 * `token` is the body's purchase token when it is a string; anything else is
 * left to fail verification.
 */
export type Parsed =
  | ({ ok: true; userId: string | undefined; token: string | undefined } & Required<Pick<BuyRequest, 'sku' | 'qty'>> & Pick<BuyRequest, 'requestId'>)
  | { ok: false; message: string };

const bad = (message: string): Parsed => ({ ok: false, message });

/** Validates a `POST /reserve` body, once, at the edge. */
export const parseReserveBody = (text: string, withToken = false): Parsed => {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return bad('body must be JSON: {"sku": "...", "userId": "...", "qty": 1, "requestId": "..."}');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('body must be a JSON object');
  const o = body as Record<string, unknown>;
  const fields = withToken ? FIELDS_WITH_TOKEN : FIELDS;
  for (const key in o) if (!fields.has(key)) return bad(`unknown field ${JSON.stringify(key.slice(0, 64))}`);
  const { sku, userId, qty = 1, requestId } = o;
  if (typeof sku !== 'string' || !SKU_PATTERN.test(sku)) return bad('sku must be 1-64 characters of A-Z a-z 0-9 _ -');
  if (userId !== undefined && (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)))
    return bad('userId must be 1-64 characters of A-Z a-z 0-9 _ . : @ -');
  if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1 || qty > MAX_QTY) return bad(`qty must be a whole number from 1 to ${MAX_QTY}`);
  if (requestId !== undefined && (typeof requestId !== 'string' || !REQUEST_ID_PATTERN.test(requestId))) {
    return bad('requestId must be 1-64 characters of A-Z a-z 0-9 _ . : -');
  }
  return { ok: true, sku, qty, requestId, userId, token: withToken && typeof o.token === 'string' ? o.token : undefined };
};
