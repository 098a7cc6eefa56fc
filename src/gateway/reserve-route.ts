import { wallClock } from '../clock.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Outcome } from '../sale/outcomes.js';
import { readBody } from './body.js';
import type { ErrorLog } from '../error-log.js';
import type { BuyRequest } from '../sale/reservations.js';
import type { BuyerCheck } from './buyer.js';
import { cannedError, sendError, sendJson } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import type { PurchaseTokens } from './purchase-token.js';
import { parseReserveBody } from './reserve-request.js';
import type { ReserveStrategy } from './strategies/strategy.js';

export interface ReserveRouteDeps {
  strategy: ReserveStrategy;
  metrics: GatewayMetrics;
  errors: ErrorLog;
  bodyLimit: number;
  /** who buys: the body's userId, or with --auth jwt the bearer token's sub */
  buyer: BuyerCheck;
  /** when set, a buy needs a valid purchase token for its sku and user */
  tokens?: PurchaseTokens;
}

/**
 * `POST /reserve`: body limit (before parsing) → validation → the buyer
 * (with --auth jwt, the bearer token verified; no Redis) → the purchase
 * token, when required (no Redis) → the strategy
 * (for seckill: admission layers, then one reserve.lua call) → the answer.
 */
export const createReserveRoute = ({ strategy, metrics, errors, bodyLimit, buyer, tokens }: ReserveRouteDeps) => {
  // The same few refusals go out thousands of times a second: built once.
  const tooLarge = cannedError('BODY_TOO_LARGE', `body is larger than ${bodyLimit} bytes`);
  const canned = {
    SOLD_OUT: cannedError('SOLD_OUT'),
    RATE_LIMITED: cannedError('RATE_LIMITED'),
    ADMISSION_CLOSED: cannedError('ADMISSION_CLOSED'),
    NOT_LOADED: cannedError('UNKNOWN_SKU'),
    ENDED: cannedError('ENDED'),
    NOT_STARTED: cannedError('NOT_STARTED'),
    LIMIT: cannedError('LIMIT'),
    FROZEN: cannedError('SALE_FROZEN'),
  };
  const badToken = cannedError('BAD_TOKEN');
  const dependencyDown = cannedError(strategy.dependency === 'mysql' ? 'MYSQL_DOWN' : 'REDIS_DOWN', 'stock service unavailable, retry with the same requestId');

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const done = (outcome: string) => {
      metrics.countOutcome(outcome);
      metrics.latency.observe((performance.now() - started) / 1000);
    };

    const body = await readBody(req, bodyLimit);
    if (body.cut) return done('CUT');
    if (!body.ok) {
      // The rest of an oversized body is never read: close the connection.
      res.setHeader('connection', 'close');
      tooLarge(res);
      return done('BODY_TOO_LARGE');
    }
    const parsed = parseReserveBody(body.text, tokens !== undefined);
    if (!parsed.ok) {
      sendError(res, 'BAD_REQUEST', parsed.message);
      return done('BAD_REQUEST');
    }
    const who = await buyer(req, res, parsed.userId);
    if (!who.ok) return done(who.outcome);
    const request: BuyRequest = { sku: parsed.sku, userId: who.userId, qty: parsed.qty, requestId: parsed.requestId };
    if (tokens && !tokens.verify(parsed.token, request.sku, request.userId)) {
      badToken(res);
      return done('BAD_TOKEN');
    }

    let result;
    try {
      result = await strategy.reserve(request, wallClock());
    } catch (error) {
      errors.report(strategy.dependency, error);
      metrics.dependencyErrors.labels(strategy.dependency).inc();
      dependencyDown(res);
      return done(strategy.dependency === 'mysql' ? 'MYSQL_DOWN' : 'REDIS_DOWN');
    }
    const { outcome, orderId } = result;
    if (outcome === Outcome.OK) {
      sendJson(res, 201, `{"orderId":"${orderId}","remaining":${result.remaining}}`);
    } else if (outcome === Outcome.DUPLICATE) {
      sendError(res, 'DUPLICATE', undefined, { orderId });
    } else if (outcome === Outcome.LIMIT && orderId !== null) {
      sendError(res, 'LIMIT', 'this user already holds as many units of this sku as one user may buy (orderId: their newest order)', { orderId });
    } else {
      canned[outcome](res);
    }
    done(outcome);
  };
};
