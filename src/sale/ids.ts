import { randomBytes } from 'node:crypto';

/** SKU ids: safe inside a Redis hash tag and a URL, at most 64 characters. */
export const SKU_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** User ids: no `/` (it separates user and request id in the idempotency record). */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,64}$/;
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Order ids are `<sku>.<time><process><counter>`: the SKU prefix lets
 * `GET /orders/:id` find the SKU's keys without a lookup table, the random
 * per-process part keeps ids unique across processes and restarts.
 */
const processPart = randomBytes(6).toString('base64url');
let counter = 0;

export const newOrderId = (sku: string, now: number): string =>
  `${sku}.${now.toString(36)}${processPart}${(counter++ % 1_679_616).toString(36).padStart(4, '0')}`;

const ORDER_ID_PATTERN = /^([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{12,40}$/;

/** The SKU an order id belongs to, or null when it is not one of ours. */
export const skuOfOrderId = (orderId: string): string | null => ORDER_ID_PATTERN.exec(orderId)?.[1] ?? null;
