import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RedisClient } from '../redis/connection.js';
import type { ErrorLog } from '../error-log.js';
import { readRedisSku, type RedisSkuState } from '../sale/catalog.js';
import { SKU_PATTERN, USER_ID_PATTERN } from '../sale/ids.js';
import type { RedisClockEstimate } from '../sale/sale-clock.js';
import type { BuyerCheck } from './buyer.js';
import { sendError, sendJson } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import type { PurchaseTokens } from './purchase-token.js';

/** How long the token route trusts a SKU's sale window read from Redis. */
const SALE_WINDOW_TTL_MS = 1_000;
/** Distinct SKUs the window cache holds before it starts over: made-up SKU names must not grow it without end. */
const SALE_WINDOW_CACHE_SIZE = 10_000;

type SaleWindow = Pick<RedisSkuState, 'loaded' | 'startsAt' | 'endsAt'>;

/**
 * A SKU's sale window, read from Redis at most once a second per SKU per
 * process: a crowd asking for tokens at the start of a sale shares one read.
 */
const cachedSaleWindows = (redis: RedisClient) => {
  const cache = new Map<string, { readAt: number; window: Promise<SaleWindow> }>();
  return (sku: string, now: number): Promise<SaleWindow> => {
    const hit = cache.get(sku);
    if (hit && now - hit.readAt < SALE_WINDOW_TTL_MS) return hit.window;
    if (cache.size >= SALE_WINDOW_CACHE_SIZE) cache.clear();
    const entry = { readAt: now, window: readRedisSku(redis, sku) };
    cache.set(sku, entry);
    // A failed read is not remembered: the next request asks Redis again.
    entry.window.catch(() => cache.get(sku) === entry && cache.delete(sku));
    return entry.window;
  };
};

export interface TokenRouteDeps {
  redis: RedisClient;
  /** Redis's clock, which judges whether the sale has started (measured before the first request) */
  clock: RedisClockEstimate;
  /** undefined when the server does not require purchase tokens */
  tokens: PurchaseTokens | undefined;
  /** who asks: `?userId=`, or with --auth jwt the bearer token's sub (a token is issued to the signed-in buyer only) */
  buyer: BuyerCheck;
  metrics: GatewayMetrics;
  errors: ErrorLog;
}

/** `GET /sales/:sku/token?userId=U`: a purchase token for the buyer, once the sale has started. */
export const createTokenRoute = ({ redis, clock, tokens, buyer, metrics, errors }: TokenRouteDeps) => {
  const saleWindow = cachedSaleWindows(redis);
  return async (sku: string, query: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!tokens) return sendError(res, 'NOT_FOUND', 'purchase tokens are off on this server (seckill serve --require-token)');
    if (!SKU_PATTERN.test(sku)) return sendError(res, 'BAD_REQUEST', 'sku must be 1-64 characters of A-Z a-z 0-9 _ -');
    const userIds = new URLSearchParams(query).getAll('userId');
    if (userIds.length > 1 || (userIds.length === 1 && !USER_ID_PATTERN.test(userIds[0]))) {
      return sendError(res, 'BAD_REQUEST', 'userId must be given once, 1-64 characters of A-Z a-z 0-9 _ . : @ -');
    }
    const who = await buyer(req, res, userIds[0]);
    if (!who.ok) return;
    // Redis's time, not this machine's: a gateway whose clock is fast would hand out tokens before the opening.
    const now = clock.now();
    let window: SaleWindow;
    try {
      window = await saleWindow(sku, now);
    } catch (error) {
      errors.report('redis', error);
      metrics.dependencyErrors.labels('redis').inc();
      return sendError(res, 'REDIS_DOWN', 'sale service unavailable, try again shortly');
    }
    if (!window.loaded) return sendError(res, 'UNKNOWN_SKU');
    if (window.startsAt !== null && now < window.startsAt) return sendError(res, 'NOT_STARTED');
    if (window.endsAt !== null && now >= window.endsAt) return sendError(res, 'ENDED');
    sendJson(res, 200, JSON.stringify(tokens.issue(sku, who.userId)), { 'cache-control': 'no-store' });
  };
};
