import { randomBytes } from 'node:crypto';

/** SKU ids: safe inside a Redis hash tag and a URL, at most 64 characters. */
export const SKU_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** User ids: no `/` (it separates user and request id in the idempotency record). */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,64}$/;
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Order ids are `<sku>.<time><process><counter>`, and `.<bucket>` after it
 * for a bucket other than 0 of a bucketed SKU: the SKU prefix and the bucket
 * let `GET /orders/:id`, release and the consumer find the order's keys
 * without a lookup table, the random per-process part keeps ids unique
 * across processes and restarts.
 */
const processPart = randomBytes(6).toString('base64url');
let counter = 0;

export const newOrderId = (sku: string, now: number, bucket = 0): string =>
  `${sku}.${now.toString(36)}${processPart}${(counter++ % 1_679_616).toString(36).padStart(4, '0')}${bucket === 0 ? '' : `.${bucket}`}`;

const ORDER_ID_PATTERN = /^([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{12,40}(?:\.([1-9][0-9]{0,3}))?$/;

/** The SKU an order id belongs to, or null when it is not one of ours. */
export const skuOfOrderId = (orderId: string): string | null => ORDER_ID_PATTERN.exec(orderId)?.[1] ?? null;

/** The stock bucket an order was reserved in (0 for an unbucketed SKU, and for ids that are not ours). */
export const bucketOfOrderId = (orderId: string): number => Number(ORDER_ID_PATTERN.exec(orderId)?.[2] ?? 0);
