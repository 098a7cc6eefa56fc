import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { OrderEvent } from '../sale/order-event.js';

export interface Rejection {
  event: OrderEvent;
  /** why MySQL cannot take it: UNKNOWN_SKU, OUT_OF_STOCK, USER_HOLDS_ORDER, ORDER_ID_REUSED */
  reason: string;
}

export interface BatchOutcome {
  applied: OrderEvent[];
  /** already in MySQL with the same content: a redelivery, changes nothing */
  duplicates: OrderEvent[];
  rejected: Rejection[];
}

type OrderContent = Pick<OrderEvent, 'sku' | 'userId' | 'qty' | 'requestId'>;

const sameOrder = (a: OrderContent, b: OrderContent) => a.sku === b.sku && a.userId === b.userId && a.qty === b.qty && a.requestId === b.requestId;

/**
 * Writes a batch of order events to MySQL in one transaction:
 * - idempotent by order id: an order already there changes nothing;
 * - the SKUs' inventory rows are locked once (in SKU order, so two consumers
 *   never deadlock) and take one guarded UPDATE per SKU per batch, not one per
 *   order: the hot row is touched once;
 * - what the database cannot take (unknown SKU, no stock, a user who holds a
 *   live order, an order id reused for other content) is returned as
 *   rejected, for the dead-letter queue, and written nowhere.
 * Throws (and writes nothing) if MySQL fails; the caller retries the batch.
 */
export const applyOrderBatch = async (pool: Pool, events: OrderEvent[], payTimeoutMs: number): Promise<BatchOutcome> => {
  const outcome: BatchOutcome = { applied: [], duplicates: [], rejected: [] };
  if (events.length === 0) return outcome;
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    await decide(conn, events, outcome);
    await write(conn, outcome.applied, payTimeoutMs);
    await conn.commit();
    return outcome;
  } catch (error) {
    await conn.rollback().catch(() => {}); // the connection may be gone: the error below says why
    throw error;
  } finally {
    conn.release();
  }
};

const decide = async (conn: PoolConnection, events: OrderEvent[], outcome: BatchOutcome): Promise<void> => {
  const skus = [...new Set(events.map((e) => e.sku))].sort();
  const [stockRows] = await conn.query<RowDataPacket[]>('SELECT sku, stock FROM inventory WHERE sku IN (?) ORDER BY sku FOR UPDATE', [skus]);
  const stock = new Map(stockRows.map((r) => [r.sku as string, r.stock as number]));

  const ids = [...new Set(events.map((e) => e.orderId))];
  const [existingRows] = await conn.query<RowDataPacket[]>('SELECT order_id, sku, user_id, qty, request_id FROM orders WHERE order_id IN (?)', [ids]);
  const existing = new Map<string, OrderContent>(existingRows.map((r) => [r.order_id, { sku: r.sku, userId: r.user_id, qty: r.qty, requestId: r.request_id }]));

  const holders = new Set<string>();
  for (const sku of skus) {
    const users = [...new Set(events.filter((e) => e.sku === sku).map((e) => e.userId))];
    const [rows] = await conn.query<RowDataPacket[]>('SELECT live_user FROM orders WHERE sku = ? AND live_user IN (?)', [sku, users]);
    for (const r of rows) holders.add(`${sku}/${r.live_user}`);
  }

  const seen = new Map<string, OrderContent>();
  for (const event of events) {
    const reject = (reason: string) => outcome.rejected.push({ event, reason });
    const before = seen.get(event.orderId) ?? existing.get(event.orderId);
    if (before !== undefined) {
      if (sameOrder(event, before)) outcome.duplicates.push(event);
      else reject('ORDER_ID_REUSED');
      continue;
    }
    seen.set(event.orderId, event);
    const left = stock.get(event.sku);
    if (left === undefined) reject('UNKNOWN_SKU');
    else if (holders.has(`${event.sku}/${event.userId}`)) reject('USER_HOLDS_ORDER');
    else if (left < event.qty) reject('OUT_OF_STOCK');
    else {
      stock.set(event.sku, left - event.qty);
      holders.add(`${event.sku}/${event.userId}`);
      outcome.applied.push(event);
    }
  }
};

const write = async (conn: PoolConnection, applied: OrderEvent[], payTimeoutMs: number): Promise<void> => {
  if (applied.length === 0) return;
  const units = new Map<string, number>();
  for (const e of applied) units.set(e.sku, (units.get(e.sku) ?? 0) + e.qty);
  for (const [sku, n] of [...units].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [result] = await conn.query<ResultSetHeader>('UPDATE inventory SET stock = stock - ? WHERE sku = ? AND stock >= ?', [n, sku, n]);
    // The rows are locked and were checked above: a miss means the check is wrong. Refuse the batch.
    if (result.affectedRows !== 1) throw new Error(`stock guard refused ${n} units of ${sku}; batch rolled back`);
  }
  await conn.query(
    'INSERT INTO orders (order_id, sku, user_id, qty, request_id, status, created_at, pay_deadline) VALUES ?',
    [applied.map((e) => [e.orderId, e.sku, e.userId, e.qty, e.requestId, 'PENDING', new Date(e.createdAt), new Date(e.createdAt + payTimeoutMs)])],
  );
};
