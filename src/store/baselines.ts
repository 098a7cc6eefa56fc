import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { addHolding, ER_CONSTRAINT_FAILED } from './holdings.js';
import type { HoldingColumns, InventoryColumns, OrderColumns, Row } from './rows.js';
import { inTransaction } from './transaction.js';

/**
 * The seed's MySQL-only ways to sell stock, kept as real strategies so that
 * `seckill bench` can run them behind the same HTTP API and compare. Both
 * write the order in the same transaction as the decrement, so they need no
 * queue: what they pay for that is the database on the hot path. They keep
 * the same rules as reserve.lua — a request id names one order, the per-user
 * limit counts units (the holdings CHECK) — and answer in its order.
 */

export type BaselineOutcome = 'OK' | 'SOLD_OUT' | 'LIMIT' | 'DUPLICATE' | 'NOT_STARTED' | 'ENDED' | 'NOT_LOADED';

export interface BaselineOrder {
  sku: string;
  userId: string;
  qty: number;
  requestId: string;
  orderId: string;
  now: number;
  payTimeoutMs: number;
}

export interface BaselineResult {
  outcome: BaselineOutcome;
  orderId: string | null;
}

const ER_DUP_ENTRY = 1062;

/** The inventory row with the buyer's earlier order of this request id, units held, and newest live order (each null when none). */
type RefusalRow = Row<
  Pick<InventoryColumns, 'stock' | 'per_user_limit' | 'starts_at' | 'ends_at'> & {
    retried: OrderColumns['order_id'] | null;
    held: HoldingColumns['units'] | null;
    newest: OrderColumns['order_id'] | null;
  }
>;

/**
 * Why a sale refuses this order, read in one query once the fast way failed:
 * the earlier order of a retried request id, the sale window, the user's
 * units against the limit, the stock — reserve.lua's order.
 */
const refusal = async (conn: PoolConnection, order: BaselineOrder): Promise<BaselineResult> => {
  const [rows] = await conn.query<RefusalRow[]>(
    `SELECT stock, per_user_limit, starts_at, ends_at,
       (SELECT order_id FROM orders o WHERE o.sku = i.sku AND o.user_id = ? AND o.request_key = ?) AS retried,
       (SELECT units FROM holdings h WHERE h.sku = i.sku AND h.user_id = ?) AS held,
       (SELECT order_id FROM orders o WHERE o.sku = i.sku AND o.user_id = ? AND o.status <> 'CANCELLED' ORDER BY o.created_at DESC, o.order_id DESC LIMIT 1) AS newest
     FROM inventory i WHERE i.sku = ?`,
    [order.userId, order.requestId === '' ? null : order.requestId, order.userId, order.userId, order.sku],
  );
  const row = rows[0];
  if (!row) return { outcome: 'NOT_LOADED', orderId: null };
  if (row.retried) return { outcome: 'DUPLICATE', orderId: row.retried };
  if (row.starts_at && order.now < row.starts_at.getTime()) return { outcome: 'NOT_STARTED', orderId: null };
  if (row.ends_at && order.now >= row.ends_at.getTime()) return { outcome: 'ENDED', orderId: null };
  if ((row.held ?? 0) + order.qty > row.per_user_limit) return { outcome: 'LIMIT', orderId: row.newest ?? null };
  if (row.stock < order.qty) return { outcome: 'SOLD_OUT', orderId: null };
  // Nothing explains it: the guard lost a race that has since settled; the buyer may try again.
  return { outcome: 'SOLD_OUT', orderId: null };
};

const insertOrder = (conn: PoolConnection, order: BaselineOrder) =>
  conn.query('INSERT INTO orders (order_id, sku, user_id, qty, request_id, status, created_at, pay_deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
    order.orderId,
    order.sku,
    order.userId,
    order.qty,
    order.requestId,
    'PENDING',
    new Date(order.now),
    new Date(order.now + order.payTimeoutMs),
  ]);

/**
 * The user's units and the order, once the stock is taken. When the holdings
 * CHECK (the limit) or the request-id key refuses, the caller rolls back and
 * answers why.
 */
const holdAndInsert = async (conn: PoolConnection, order: BaselineOrder): Promise<BaselineResult> => {
  try {
    await addHolding(conn, order.sku, order.userId, order.qty);
    await insertOrder(conn, order);
    return { outcome: 'OK', orderId: order.orderId };
  } catch (error) {
    const errno = (error as { errno?: number }).errno;
    if (errno !== ER_DUP_ENTRY && errno !== ER_CONSTRAINT_FAILED) throw error;
    return refusal(conn, order);
  }
};

/** A buy in one transaction, kept only when it sold. */
const buying = (pool: Pool, work: (conn: PoolConnection) => Promise<BaselineResult>): Promise<BaselineResult> =>
  inTransaction(pool, work, (result) => result.outcome === 'OK');

/**
 * `mysql-update`: one conditional UPDATE (`stock >= n`, inside the window),
 * the user's units and the INSERT of the order, in one transaction. The row
 * lock is held from the UPDATE to COMMIT.
 */
export const reserveByConditionalUpdate = (pool: Pool, order: BaselineOrder): Promise<BaselineResult> =>
  buying(pool, async (conn) => {
    const [updated] = await conn.query<ResultSetHeader>(
      `UPDATE inventory SET stock = stock - ?
       WHERE sku = ? AND stock >= ? AND per_user_limit >= ?
         AND (starts_at IS NULL OR starts_at <= ?) AND (ends_at IS NULL OR ends_at > ?)`,
      [order.qty, order.sku, order.qty, order.qty, new Date(order.now), new Date(order.now)],
    );
    // Only now find out why: the common refusal (sold out) costs one more query.
    if (updated.affectedRows === 0) return refusal(conn, order);
    return holdAndInsert(conn, order);
  });

/**
 * `mysql-for-update`: lock the inventory row with SELECT … FOR UPDATE, check
 * in the application, then UPDATE, the user's units and INSERT, in one transaction.
 */
export const reserveBySelectForUpdate = (pool: Pool, order: BaselineOrder): Promise<BaselineResult> =>
  buying(pool, async (conn) => {
    const [rows] = await conn.query<Row<Pick<InventoryColumns, 'stock' | 'per_user_limit' | 'starts_at' | 'ends_at'>>[]>(
      'SELECT stock, per_user_limit, starts_at, ends_at FROM inventory WHERE sku = ? FOR UPDATE',
      [order.sku],
    );
    const row = rows[0];
    if (!row) return { outcome: 'NOT_LOADED', orderId: null };
    const outside = (row.starts_at && order.now < row.starts_at.getTime()) || (row.ends_at && order.now >= row.ends_at.getTime());
    if (outside || order.qty > row.per_user_limit || row.stock < order.qty) return refusal(conn, order);
    await conn.query('UPDATE inventory SET stock = stock - ? WHERE sku = ?', [order.qty, order.sku]);
    return holdAndInsert(conn, order);
  });

/**
 * The ceiling of any order consumer: `orders` one-unit orders of `sku`
 * written in batches of `batchSize`, each batch one transaction of a bare
 * multi-row INSERT and one guarded UPDATE — nothing checked, nothing else.
 * `seckill bench --drain-rate` puts the pipeline's rate next to it.
 */
export const writeBareOrders = async (pool: Pool, sku: string, orders: number, batchSize: number): Promise<void> => {
  for (let i = 0; i < orders; i += batchSize) {
    const n = Math.min(batchSize, orders - i);
    const now = new Date();
    await inTransaction(pool, async (conn) => {
      await conn.query('INSERT INTO orders (order_id, sku, user_id, qty, request_id, status, created_at, pay_deadline) VALUES ?', [
        Array.from({ length: n }, (_, j) => [`${sku}.raw${String(i + j).padStart(12, '0')}`, sku, `r${i + j}`, 1, '', 'PENDING', now, now]),
      ]);
      await conn.query('UPDATE inventory SET stock = stock - ? WHERE sku = ? AND stock >= ?', [n, sku, n]);
    });
  }
};
