import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pool } from 'mysql2/promise';
import { skuOfOrderId, USER_ID_PATTERN } from '../sale/ids.js';
import type { Reservations, ReservationRecord } from '../sale/reservations.js';
import { findOrder, type OrderRow } from '../store/orders.js';
import { payOrder } from '../store/payments.js';
import { readBody } from './body.js';
import type { ErrorLog } from '../error-log.js';
import type { BuyerCheck } from './buyer.js';
import { sendError, sendJson } from './errors.js';
import type { GatewayMetrics } from './metrics.js';

export interface OrdersRouteDeps {
  reservations: Reservations;
  mysql: Pool;
  metrics: GatewayMetrics;
  errors: ErrorLog;
  bodyLimit: number;
  /** who pays: the body's userId, or with --auth jwt the bearer token's sub */
  buyer: BuyerCheck;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const orderView = (order: OrderRow) => ({
  orderId: order.orderId,
  sku: order.sku,
  userId: order.userId,
  qty: order.qty,
  status: order.status.toLowerCase(),
  reason: order.reason,
  createdAt: iso(order.createdAt),
  payDeadline: iso(order.payDeadline),
  paidAt: iso(order.paidAt),
  cancelledAt: iso(order.cancelledAt),
});

const reservationView = (record: ReservationRecord) => ({
  orderId: record.orderId,
  sku: record.sku,
  userId: record.userId,
  qty: record.qty,
  status: record.releasedAt === undefined ? 'reserved' : 'cancelled',
  reason: record.reason ?? null,
  createdAt: iso(record.createdAt),
});

class DependencyDown extends Error {
  constructor(
    readonly dependency: 'redis' | 'mysql',
    readonly cause: unknown,
  ) {
    super(`${dependency} unavailable`);
  }
}

const from = <T>(dependency: 'redis' | 'mysql', p: Promise<T>): Promise<T> =>
  p.catch((error: unknown) => {
    throw new DependencyDown(dependency, error);
  });

/**
 * `GET /orders/:id` and `POST /orders/:id/pay`. MySQL is the record once the
 * consumer has written the order; before that, the Redis reservation says it
 * is reserved, or that it was released and why.
 */
const cancelledMessage = (reason: string | null | undefined): string => `this order was cancelled (${reason ?? 'no reason'})`;

export const createOrdersRoute = ({ reservations, mysql, metrics, errors, bodyLimit, buyer }: OrdersRouteDeps) => {
  const answerDown = (res: ServerResponse, error: unknown) => {
    if (!(error instanceof DependencyDown)) throw error;
    errors.report(error.dependency, error.cause);
    metrics.dependencyErrors.labels(error.dependency).inc();
    sendError(res, error.dependency === 'redis' ? 'REDIS_DOWN' : 'MYSQL_DOWN', `${error.dependency} unavailable, try again shortly`);
  };

  const lookup = async (orderId: string, sku: string) => {
    const order = await from('mysql', findOrder(mysql, orderId));
    if (order) return { order, record: null };
    return { order: null, record: await from('redis', reservations.get(sku, orderId)) };
  };

  const getOrder = async (orderId: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const sku = skuOfOrderId(orderId);
    if (sku === null) return sendError(res, 'NOT_FOUND');
    // Signed-in buyers see their own orders only; without sign-in anyone may look (the demo).
    let viewer: string | null = null;
    if (buyer.signedIn) {
      const who = await buyer(req, res, undefined);
      if (!who.ok) return;
      viewer = who.userId;
    }
    try {
      const { order, record } = await lookup(orderId, sku);
      const owner = order?.userId ?? record?.userId;
      if (viewer !== null && owner !== undefined && owner !== viewer) return sendError(res, 'WRONG_USER');
      if (order) return sendJson(res, 200, JSON.stringify(orderView(order)));
      if (record) return sendJson(res, 200, JSON.stringify(reservationView(record)));
      sendError(res, 'NOT_FOUND');
    } catch (error) {
      answerDown(res, error);
    }
  };

  const pay = async (orderId: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req, bodyLimit);
    if (body.cut) return;
    if (!body.ok) {
      res.setHeader('connection', 'close');
      return sendError(res, 'BODY_TOO_LARGE', `body is larger than ${bodyLimit} bytes`);
    }
    // {"userId": "..."}; with --auth jwt the bearer says who pays, so {} or no body at all will do.
    let named: unknown;
    if (body.text !== '') {
      try {
        const parsed = JSON.parse(body.text) as unknown;
        const keys = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? Object.keys(parsed) : null;
        if (keys === null || keys.length > 1 || (keys.length === 1 && keys[0] !== 'userId'))
          return sendError(res, 'BAD_REQUEST', 'body must be {"userId": "..."}');
        named = (parsed as { userId?: unknown }).userId;
      } catch {
        return sendError(res, 'BAD_REQUEST', 'body must be JSON: {"userId": "..."}');
      }
    }
    if (named !== undefined && (typeof named !== 'string' || !USER_ID_PATTERN.test(named)))
      return sendError(res, 'BAD_REQUEST', 'userId must be 1-64 characters of A-Z a-z 0-9 _ . : @ -');
    const sku = skuOfOrderId(orderId);
    if (sku === null) return sendError(res, 'NOT_FOUND');
    const who = await buyer(req, res, named);
    if (!who.ok) return;
    const userId = who.userId;
    try {
      const result = await from('mysql', payOrder(mysql, orderId, userId));
      if (result.ok) return sendJson(res, 200, JSON.stringify({ ...orderView(result.order), alreadyPaid: result.alreadyPaid }));
      if (result.code !== 'NOT_FOUND') {
        return sendError(res, result.code, result.code === 'CANCELLED' ? cancelledMessage(result.order?.reason) : undefined);
      }
      // Not in MySQL yet: reserved and on its way, or released, or unknown.
      const record = await from('redis', reservations.get(sku, orderId));
      if (record === null) return sendError(res, 'NOT_FOUND');
      if (record.userId !== userId) return sendError(res, 'WRONG_USER');
      if (record.releasedAt !== undefined) return sendError(res, 'CANCELLED', cancelledMessage(record.reason));
      sendError(res, 'NOT_CONFIRMED');
    } catch (error) {
      answerDown(res, error);
    }
  };

  return { getOrder, pay };
};
