import type { Pool } from 'mysql2/promise';
import { newOrderId } from '../../sale/ids.js';
import { reserveByConditionalUpdate, reserveBySelectForUpdate, type BaselineOrder, type BaselineResult } from '../../store/baselines.js';
import type { ReserveStrategy } from './strategy.js';

/** The MySQL-only baselines, behind the same HTTP path as seckill. */
export const mysqlStrategy = (name: 'mysql-update' | 'mysql-for-update', mysql: Pool, payTimeoutMs: number): ReserveStrategy => {
  const reserve: (pool: Pool, order: BaselineOrder) => Promise<BaselineResult> =
    name === 'mysql-update' ? reserveByConditionalUpdate : reserveBySelectForUpdate;
  return {
    name,
    dependency: 'mysql',
    reserve: async (request, now) => {
      const result = await reserve(mysql, {
        ...request,
        requestId: request.requestId ?? '',
        orderId: newOrderId(request.sku, now),
        now,
        payTimeoutMs,
      });
      return { outcome: result.outcome, orderId: result.orderId, remaining: null };
    },
  };
};
