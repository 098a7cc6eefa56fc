import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { findOrder, type OrderRow } from './orders.js';

export type PayResult =
  | { ok: true; order: OrderRow; alreadyPaid: boolean }
  | { ok: false; code: 'NOT_FOUND' | 'WRONG_USER' | 'CANCELLED' | 'PAYMENT_LATE'; order: OrderRow | null };

/**
 * Marks an order paid: only by its buyer, only while PENDING and before its
 * deadline. Paying twice answers the same (idempotent).
 */
export const payOrder = async (pool: Pool, orderId: string, userId: string, now = Date.now()): Promise<PayResult> => {
  const [result] = await pool.query<ResultSetHeader>(
    `UPDATE orders SET status = 'PAID', paid_at = ?
     WHERE order_id = ? AND user_id = ? AND status = 'PENDING' AND pay_deadline > ?`,
    [new Date(now), orderId, userId, new Date(now)],
  );
  const order = await findOrder(pool, orderId);
  if (order === null) return { ok: false, code: 'NOT_FOUND', order };
  if (result.affectedRows === 1) return { ok: true, order, alreadyPaid: false };
  if (order.userId !== userId) return { ok: false, code: 'WRONG_USER', order: null };
  if (order.status === 'PAID') return { ok: true, order, alreadyPaid: true };
  if (order.status === 'CANCELLED') return { ok: false, code: 'CANCELLED', order };
  return { ok: false, code: 'PAYMENT_LATE', order };
};

export interface CancelledOrder {
  orderId: string;
  sku: string;
  qty: number;
}

/**
 * Cancels up to `limit` PENDING orders past their deadline and returns their
 * units to MySQL stock, each in its own small transaction. The conditional
 * UPDATE lets exactly one of several sweepers win an order. Returns the
 * orders this call cancelled.
 */
export const cancelExpiredOrders = async (pool: Pool, reason: string, limit: number, now = Date.now()): Promise<CancelledOrder[]> => {
  const [due] = await pool.query<RowDataPacket[]>(
    `SELECT order_id, sku, qty FROM orders WHERE status = 'PENDING' AND pay_deadline <= ? ORDER BY pay_deadline LIMIT ?`,
    [new Date(now), limit],
  );
  const cancelled: CancelledOrder[] = [];
  for (const row of due) {
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      const [won] = await conn.query<ResultSetHeader>(
        `UPDATE orders SET status = 'CANCELLED', reason = ?, cancelled_at = ? WHERE order_id = ? AND status = 'PENDING' AND pay_deadline <= ?`,
        [reason, new Date(now), row.order_id, new Date(now)],
      );
      if (won.affectedRows === 1) {
        await conn.query('UPDATE inventory SET stock = stock + ? WHERE sku = ?', [row.qty, row.sku]);
        cancelled.push({ orderId: row.order_id, sku: row.sku, qty: row.qty });
      }
      await conn.commit();
    } catch (error) {
      await conn.rollback().catch(() => {});
      throw error;
    } finally {
      conn.release();
    }
  }
  return cancelled;
};

/** Cancelled orders whose unit is not yet back on sale in Redis (e.g. a sweeper died in between). */
export const ordersAwaitingRelease = async (pool: Pool, limit: number): Promise<CancelledOrder[]> => {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT order_id, sku, qty FROM orders WHERE status = 'CANCELLED' AND released_to_sale = 0 LIMIT ?`,
    [limit],
  );
  return rows.map((r) => ({ orderId: r.order_id, sku: r.sku, qty: r.qty }));
};

export const markReleasedToSale = async (pool: Pool, orderIds: string[]): Promise<void> => {
  if (orderIds.length > 0) await pool.query('UPDATE orders SET released_to_sale = 1 WHERE order_id IN (?)', [orderIds]);
};
