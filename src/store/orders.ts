import type { Pool } from 'mysql2/promise';
import { getInventory, type InventoryRow, type Queryable } from './inventory.js';
import type { OrderColumns, Row } from './rows.js';

export type OrderStatus = OrderColumns['status'];

export interface OrderRow {
  orderId: string;
  sku: string;
  userId: string;
  qty: number;
  requestId: string;
  status: OrderStatus;
  reason: string | null;
  createdAt: number;
  payDeadline: number;
  paidAt: number | null;
  cancelledAt: number | null;
}

const ORDER_COLUMNS = 'order_id, sku, user_id, qty, request_id, status, reason, created_at, pay_deadline, paid_at, cancelled_at';

type OrderRecord = Row<
  Pick<OrderColumns, 'order_id' | 'sku' | 'user_id' | 'qty' | 'request_id' | 'status' | 'reason' | 'created_at' | 'pay_deadline' | 'paid_at' | 'cancelled_at'>
>;

const toOrder = (row: OrderRecord): OrderRow => ({
  orderId: row.order_id,
  sku: row.sku,
  userId: row.user_id,
  qty: row.qty,
  requestId: row.request_id,
  status: row.status,
  reason: row.reason,
  createdAt: row.created_at.getTime(),
  payDeadline: row.pay_deadline.getTime(),
  paidAt: row.paid_at ? row.paid_at.getTime() : null,
  cancelledAt: row.cancelled_at ? row.cancelled_at.getTime() : null,
});

export const findOrder = async (pool: Pool, orderId: string): Promise<OrderRow | null> => {
  const [rows] = await pool.query<OrderRecord[]>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE order_id = ?`, [orderId]);
  return rows[0] ? toOrder(rows[0]) : null;
};

export const ordersOfSku = async (pool: Queryable, sku: string): Promise<OrderRow[]> => {
  const [rows] = await pool.query<OrderRecord[]>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE sku = ?`, [sku]);
  return rows.map(toOrder);
};

/**
 * A SKU's inventory row and orders as of one moment (a consistent snapshot):
 * stock and orders read apart can catch a transaction between the two and
 * count a unit twice or not at all.
 */
export const readSkuRecord = async (pool: Pool, sku: string): Promise<{ inventory: InventoryRow | null; orders: OrderRow[] }> => {
  const conn = await pool.getConnection();
  try {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const inventory = await getInventory(conn, sku);
    const orders = await ordersOfSku(conn, sku);
    await conn.query('COMMIT');
    return { inventory, orders };
  } finally {
    conn.release();
  }
};

/** What of a SKU's orders is not settled yet: awaiting payment (until when), or cancelled with its units not yet back in Redis. */
export const unsettledOrders = async (pool: Pool, sku: string): Promise<{ pending: number; lastDeadline: number | null; awaitingRelease: number }> => {
  // SUMs are DECIMAL strings, and null over no rows.
  const [rows] = await pool.query<Row<{ pending: string | null; last_deadline: Date | null; awaiting: string | null }>[]>(
    `SELECT SUM(status = 'PENDING') AS pending, MAX(IF(status = 'PENDING', pay_deadline, NULL)) AS last_deadline,
            SUM(status = 'CANCELLED' AND released_to_sale = 0) AS awaiting
     FROM orders WHERE sku = ?`,
    [sku],
  );
  const row = rows[0];
  return {
    pending: Number(row.pending ?? 0),
    lastDeadline: row.last_deadline ? row.last_deadline.getTime() : null,
    awaitingRelease: Number(row.awaiting ?? 0),
  };
};

/** PENDING orders of some SKUs: the bench's paying buyers look here for what to pay. */
export const pendingOrders = async (pool: Pool, skus: string[]): Promise<{ orderId: string; userId: string }[]> => {
  const [rows] = await pool.query<Row<Pick<OrderColumns, 'order_id' | 'user_id'>>[]>(
    `SELECT order_id, user_id FROM orders WHERE sku IN (?) AND status = 'PENDING'`,
    [skus],
  );
  return rows.map((r) => ({ orderId: r.order_id, userId: r.user_id }));
};
