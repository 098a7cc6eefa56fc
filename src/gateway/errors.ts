import type { ServerResponse } from 'node:http';

/**
 * Every answer the gateway gives other than a success, by code: its HTTP
 * status and what it tells the client, in one table (as fastify keeps its
 * errors). A route names the code; it writes a message of its own only
 * where the answer carries something of the request (a limit, a path, what
 * did not parse, why an order was cancelled).
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'the request is not valid' },
  /** --auth jwt: no bearer token, or one that does not verify; the body's `reason` says which (identity.ts) */
  UNAUTHORIZED: { status: 401, message: 'a valid bearer token is required' },
  NOT_STARTED: { status: 403, message: 'the sale has not started yet' },
  BAD_TOKEN: { status: 403, message: 'a valid purchase token for this sku and user is required: GET /sales/:sku/token?userId=…' },
  /** an order of another buyer, or (--auth jwt) a userId that is not the bearer's sub */
  WRONG_USER: { status: 403, message: 'this order belongs to another user' },
  UNKNOWN_SKU: { status: 404, message: 'no sale is loaded for this sku' },
  NOT_FOUND: { status: 404, message: 'no such order' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed' },
  LIMIT: { status: 409, message: 'qty is over the number of units one user may buy in this sale' },
  DUPLICATE: { status: 409, message: 'this request id was answered before' },
  NOT_CONFIRMED: { status: 409, message: 'the order is reserved and being confirmed: pay again in a moment' },
  CANCELLED: { status: 409, message: 'this order was cancelled' },
  SOLD_OUT: { status: 410, message: 'sold out' },
  ENDED: { status: 410, message: 'the sale has ended' },
  PAYMENT_LATE: { status: 410, message: 'the payment deadline has passed' },
  BODY_TOO_LARGE: { status: 413, message: 'the body is too large' },
  RATE_LIMITED: { status: 429, message: 'too many requests to this server, try again shortly' },
  ADMISSION_CLOSED: { status: 429, message: 'this sale admits no more buyers for now, try again shortly' },
  REDIS_DOWN: { status: 503, message: 'stock service unavailable, retry with the same requestId' },
  SALE_FROZEN: { status: 503, message: 'the sale is being reconciled, retry with the same requestId in a moment' },
  MYSQL_DOWN: { status: 503, message: 'order service unavailable, retry with the same requestId' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

const JSON_HEADERS = { 'content-type': 'application/json' };

export const sendJson = (res: ServerResponse, status: number, body: string, headers?: Record<string, string>): void => {
  res.writeHead(status, headers ? { ...JSON_HEADERS, ...headers } : JSON_HEADERS);
  res.end(body);
};

export const errorBody = (code: ErrorCode, message: string = ERRORS[code].message, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ error: code, message, ...extra });

/** The answer for `code`: its status, and its message unless the route has one of its own. */
export const sendError = (res: ServerResponse, code: ErrorCode, message?: string, extra?: Record<string, unknown>): void =>
  sendJson(res, ERRORS[code].status, errorBody(code, message, extra));

/**
 * The same few refusals are sent thousands of times a second during a sale;
 * their bodies are built once.
 */
export const cannedError = (code: ErrorCode, message?: string, extra?: Record<string, unknown>, headers?: Record<string, string>) => {
  const body = errorBody(code, message, extra);
  const status = ERRORS[code].status;
  return (res: ServerResponse) => sendJson(res, status, body, headers);
};
