import type { ServerResponse } from 'node:http';

/**
 * Every answer the gateway gives other than a success, by code. The one
 * table that maps a code to its HTTP status.
 */
export const STATUS = {
  BAD_REQUEST: 400,
  /** --auth jwt: no bearer token, or one that does not verify; the body's `reason` says which (identity.ts) */
  UNAUTHORIZED: 401,
  NOT_STARTED: 403,
  BAD_TOKEN: 403,
  /** an order of another buyer, or (--auth jwt) a userId that is not the bearer's sub */
  WRONG_USER: 403,
  UNKNOWN_SKU: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  LIMIT: 409,
  DUPLICATE: 409,
  NOT_CONFIRMED: 409,
  CANCELLED: 409,
  SOLD_OUT: 410,
  ENDED: 410,
  PAYMENT_LATE: 410,
  BODY_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  ADMISSION_CLOSED: 429,
  REDIS_DOWN: 503,
  SALE_FROZEN: 503,
  MYSQL_DOWN: 503,
} as const;

export type ErrorCode = keyof typeof STATUS;

const JSON_HEADERS = { 'content-type': 'application/json' };

export const sendJson = (res: ServerResponse, status: number, body: string, headers?: Record<string, string>): void => {
  res.writeHead(status, headers ? { ...JSON_HEADERS, ...headers } : JSON_HEADERS);
  res.end(body);
};

export const errorBody = (code: ErrorCode, message: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ error: code, message, ...extra });

export const sendError = (res: ServerResponse, code: ErrorCode, message: string, extra?: Record<string, unknown>): void =>
  sendJson(res, STATUS[code], errorBody(code, message, extra));

/**
 * The same few refusals are sent thousands of times a second during a sale;
 * their bodies are built once.
 */
export const cannedError = (code: ErrorCode, message: string, extra?: Record<string, unknown>, headers?: Record<string, string>) => {
  const body = errorBody(code, message, extra);
  const status = STATUS[code];
  return (res: ServerResponse) => sendJson(res, status, body, headers);
};
