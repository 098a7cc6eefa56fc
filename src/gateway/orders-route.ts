import type { ServerResponse } from 'node:http';
import type { Pool } from 'mysql2/promise';
import { skuOfOrderId } from '../sale/ids.js';
import type { Reservations } from '../sale/reservations.js';
import { findOrder } from '../store/orders.js';
import { sendError, sendJson } from './errors.js';
import type { ErrorLog } from './error-log.js';
import type { GatewayMetrics } from './metrics.js';

export interface OrdersRouteDeps {
  reservations: Reservations;
  mysql: Pool;
  metrics: GatewayMetrics;
  errors: ErrorLog;
}

/**
 * `GET /orders/:orderId`: MySQL is the record once the consumer has written
 * the order; before that the Redis reservation says it is reserved, or that
 * it was released (and why).
 */
export const createOrdersRoute = ({ reservations, mysql, metrics, errors }: OrdersRouteDeps) => {
  const dependencyDown = (res: ServerResponse, dependency: 'redis' | 'mysql', error: unknown) => {
    errors.report(dependency, error);
    metrics.dependencyErrors.labels(dependency).inc();
    sendError(res, dependency === 'redis' ? 'REDIS_DOWN' : 'MYSQL_DOWN', `${dependency} unavailable, try again shortly`);
  };

  const getOrder = async (orderId: string, res: ServerResponse): Promise<void> => {
    const sku = skuOfOrderId(orderId);
    if (sku === null) return sendError(res, 'NOT_FOUND', 'no such order');
    let order;
    try {
      order = await findOrder(mysql, orderId);
    } catch (error) {
      return dependencyDown(res, 'mysql', error);
    }
    if (order) {
      const { orderId: id, sku: s, userId, qty, reason } = order;
      return sendJson(
        res,
        200,
        JSON.stringify({
          orderId: id,
          sku: s,
          userId,
          qty,
          status: order.status.toLowerCase(),
          reason,
          createdAt: new Date(order.createdAt).toISOString(),
          payDeadline: new Date(order.payDeadline).toISOString(),
          paidAt: order.paidAt && new Date(order.paidAt).toISOString(),
          cancelledAt: order.cancelledAt && new Date(order.cancelledAt).toISOString(),
        }),
      );
    }
    let record;
    try {
      record = await reservations.get(sku, orderId);
    } catch (error) {
      return dependencyDown(res, 'redis', error);
    }
    if (!record) return sendError(res, 'NOT_FOUND', 'no such order');
    const released = record.releasedAt !== undefined;
    return sendJson(
      res,
      200,
      JSON.stringify({
        orderId,
        sku,
        userId: record.userId,
        qty: record.qty,
        status: released ? 'cancelled' : 'reserved',
        reason: record.reason ?? null,
        createdAt: new Date(record.createdAt).toISOString(),
      }),
    );
  };

  return { getOrder };
};
