import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

/**
 * The seed's MySQL-only ways to sell stock, kept as real strategies so that
 * `seckill bench` can run them behind the same HTTP API and compare. Both
 * write the order in the same transaction as the decrement, so they need no
 * queue: what they pay for that is the database on the hot path.
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

interface InventoryGate {
  stock: number;
  per_user_limit: number;
  starts_at: Date | null;
  ends_at: Date | null;
}

/** Why a sale refuses, from its inventory row, before stock is looked at. */
const windowOrLimit = (row: InventoryGate, order: BaselineOrder): BaselineOutcome | null => {
  if (row.starts_at && order.now < row.starts_at.getTime()) return 'NOT_STARTED';
  if (row.ends_at && order.now >= row.ends_at.getTime()) return 'ENDED';
  if (order.qty > row.per_user_limit) return 'LIMIT';
  return null;
};

/** The user's live order, to answer LIMIT or DUPLICATE with its id. */
const liveOrderOf = async (conn: PoolConnection, order: BaselineOrder): Promise<BaselineResult> => {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT order_id, request_id FROM orders WHERE sku = ? AND live_user = ?', [order.sku, order.userId]);
  const row = rows[0];
  if (!row) return { outcome: 'LIMIT', orderId: null };
  return { outcome: order.requestId !== '' && row.request_id === order.requestId ? 'DUPLICATE' : 'LIMIT', orderId: row.order_id };
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

const inTransaction = async (pool: Pool, work: (conn: PoolConnection) => Promise<BaselineResult>): Promise<BaselineResult> => {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    const result = await work(conn);
    if (result.outcome === 'OK') await conn.commit();
    else await conn.rollback();
    return result;
  } catch (error) {
    await conn.rollback().catch(() => {}); // the connection may be gone: the error says why
    throw error;
  } finally {
    conn.release();
  }
};

/**
 * `mysql-update`: one conditional UPDATE (`stock >= n`) and the INSERT of the
 * order, in one transaction. The row lock is held from the UPDATE to COMMIT.
 */
export const reserveByConditionalUpdate = (pool: Pool, order: BaselineOrder): Promise<BaselineResult> =>
  inTransaction(pool, async (conn) => {
    const [updated] = await conn.query<ResultSetHeader>(
      `UPDATE inventory SET stock = stock - ?
       WHERE sku = ? AND stock >= ? AND per_user_limit >= ?
         AND (starts_at IS NULL OR starts_at <= ?) AND (ends_at IS NULL OR ends_at > ?)`,
      [order.qty, order.sku, order.qty, order.qty, new Date(order.now), new Date(order.now)],
    );
    if (updated.affectedRows === 0) {
      // Only now find out why: the common refusal (sold out) costs one more query.
      const [rows] = await conn.query<RowDataPacket[]>('SELECT stock, per_user_limit, starts_at, ends_at FROM inventory WHERE sku = ?', [order.sku]);
      const row = rows[0] as InventoryGate | undefined;
      if (!row) return { outcome: 'NOT_LOADED', orderId: null };
      return { outcome: windowOrLimit(row, order) ?? 'SOLD_OUT', orderId: null };
    }
    return insertOrCollide(conn, order);
  });

/**
 * `mysql-for-update`: lock the inventory row with SELECT … FOR UPDATE, check
 * in the application, then UPDATE and INSERT, in one transaction.
 */
export const reserveBySelectForUpdate = (pool: Pool, order: BaselineOrder): Promise<BaselineResult> =>
  inTransaction(pool, async (conn) => {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT stock, per_user_limit, starts_at, ends_at FROM inventory WHERE sku = ? FOR UPDATE', [order.sku]);
    const row = rows[0] as InventoryGate | undefined;
    if (!row) return { outcome: 'NOT_LOADED', orderId: null };
    const refused = windowOrLimit(row, order);
    if (refused) return { outcome: refused, orderId: null };
    if (row.stock < order.qty) return { outcome: 'SOLD_OUT', orderId: null };
    await conn.query('UPDATE inventory SET stock = stock - ? WHERE sku = ?', [order.qty, order.sku]);
    return insertOrCollide(conn, order);
  });

/**
 * INSERTs the order. When the unique key (sku, live_user) refuses it, the user
 * holds an order already: LIMIT or DUPLICATE, and the caller rolls back.
 */
const insertOrCollide = async (conn: PoolConnection, order: BaselineOrder): Promise<BaselineResult> => {
  try {
    await insertOrder(conn, order);
    return { outcome: 'OK', orderId: order.orderId };
  } catch (error) {
    if ((error as { errno?: number }).errno !== ER_DUP_ENTRY) throw error;
    return liveOrderOf(conn, order);
  }
};
