import type { Pool, ResultSetHeader } from 'mysql2/promise';
import { releaseHolding } from './holdings.js';
import { findOrder, type OrderRow } from './orders.js';
import type { OrderColumns, Row } from './rows.js';
import { inTransaction } from './transaction.js';

export type PayResult =
  { ok: true; order: OrderRow; alreadyPaid: boolean } | { ok: false; code: 'NOT_FOUND' | 'WRONG_USER' | 'CANCELLED' | 'PAYMENT_LATE'; order: OrderRow | null };

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
  /** why it was cancelled (PAYMENT_TIMEOUT, DEAD_LETTER:<why>, …) */
  reason: string;
}

/**
 * Cancels up to `limit` PENDING orders of `skus` past their deadline and
 * returns their units to MySQL stock and to their users' allowance, each in
 * its own small transaction. The conditional UPDATE lets exactly one of
 * several sweepers win an order. Returns the orders this call cancelled.
 */
export const cancelExpiredOrders = async (pool: Pool, skus: string[], reason: string, limit: number, now = Date.now()): Promise<CancelledOrder[]> => {
  if (skus.length === 0) return [];
  const [due] = await pool.query<Row<Pick<OrderColumns, 'order_id' | 'sku' | 'user_id' | 'qty'>>[]>(
    `SELECT order_id, sku, user_id, qty FROM orders WHERE status = 'PENDING' AND pay_deadline <= ? AND sku IN (?) ORDER BY pay_deadline LIMIT ?`,
    [new Date(now), skus, limit],
  );
  const cancelled: CancelledOrder[] = [];
  for (const row of due) {
    await inTransaction(pool, async (conn) => {
      const [won] = await conn.query<ResultSetHeader>(
        `UPDATE orders SET status = 'CANCELLED', reason = ?, cancelled_at = ? WHERE order_id = ? AND status = 'PENDING' AND pay_deadline <= ?`,
        [reason, new Date(now), row.order_id, new Date(now)],
      );
      if (won.affectedRows !== 1) return; // another sweeper won it, or it was paid
      await conn.query('UPDATE inventory SET stock = stock + ? WHERE sku = ?', [row.qty, row.sku]);
      await releaseHolding(conn, row.sku, row.user_id, row.qty);
      cancelled.push({ orderId: row.order_id, sku: row.sku, qty: row.qty, reason });
    });
  }
  return cancelled;
};

/**
 * `released_to_sale`: whether a cancelled order's units are back on sale in
 * Redis. PENDING until release.lua answered; DONE once it did; UNKNOWN_TO_REDIS
 * when the Redis that holds the SKU has no such reservation (reconcile's case).
 */
export const RELEASE_STATE = { PENDING: 0, DONE: 1, UNKNOWN_TO_REDIS: 2 } as const;

/** Cancelled orders of `skus` whose units are not yet back on sale in Redis (cancelled by a sweeper that died before, or refused by the consumer). */
export const ordersAwaitingRelease = async (pool: Pool, skus: string[], limit: number): Promise<CancelledOrder[]> => {
  if (skus.length === 0) return [];
  const [rows] = await pool.query<Row<Pick<OrderColumns, 'order_id' | 'sku' | 'qty' | 'reason'>>[]>(
    `SELECT order_id, sku, qty, reason FROM orders WHERE status = 'CANCELLED' AND released_to_sale = ? AND sku IN (?) ORDER BY cancelled_at LIMIT ?`,
    [RELEASE_STATE.PENDING, skus, limit],
  );
  return rows.map((r) => ({ orderId: r.order_id, sku: r.sku, qty: r.qty, reason: r.reason ?? 'CANCELLED' }));
};

export const markReleasedToSale = async (pool: Pool, orderIds: string[], state: number = RELEASE_STATE.DONE): Promise<void> => {
  if (orderIds.length > 0) await pool.query(`UPDATE orders SET released_to_sale = ? WHERE order_id IN (?) AND status = 'CANCELLED'`, [state, orderIds]);
};
