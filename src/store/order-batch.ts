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
 * - one guarded UPDATE per SKU per batch (`stock >= n`), not one per order:
 *   the hot row is touched once, and SKUs are updated in SKU order so two
 *   consumers never deadlock;
 * - what the database cannot take (unknown SKU, no stock, a user who holds a
 *   live order, an order id reused for other content) is returned as
 *   rejected, for the dead-letter queue, and written nowhere.
 *
 * The common batch — new orders whose units Redis sold — is written straight
 * away (the fast path: the same statements as a bare INSERT + UPDATE loop).
 * Only when the database refuses it (a guard or a unique key says no) is it
 * rolled back and sorted out order by order (the careful path).
 * Throws (and writes nothing) if MySQL fails; the caller retries the batch.
 */
export const applyOrderBatch = async (pool: Pool, events: OrderEvent[], payTimeoutMs: number): Promise<BatchOutcome> => {
  if (events.length === 0) return { applied: [], duplicates: [], rejected: [] };
  const conn = await pool.getConnection();
  try {
    return (await inTransaction(conn, () => fastPath(conn, events, payTimeoutMs))) ?? (await inTransaction(conn, () => carefulPath(conn, events, payTimeoutMs)))!;
  } finally {
    conn.release();
  }
};

/** Runs `work` in a transaction: committed when it returns a value, rolled back when it returns null or throws. */
const inTransaction = async <T>(conn: PoolConnection, work: () => Promise<T | null>): Promise<T | null> => {
  await conn.beginTransaction();
  try {
    const result = await work();
    if (result === null) await conn.rollback();
    else await conn.commit();
    return result;
  } catch (error) {
    await conn.rollback().catch(() => {}); // the connection may be gone: the error says why
    throw error;
  }
};

const ER_DUP_ENTRY = 1062;

const bySku = (events: OrderEvent[]): [string, OrderEvent[]][] => {
  const groups = new Map<string, OrderEvent[]>();
  for (const e of events) groups.set(e.sku, [...(groups.get(e.sku) ?? []), e]);
  return [...groups].sort(([a], [b]) => (a < b ? -1 : 1));
};

/** Every event new and its units in stock: applied as it is. Null when the database says otherwise. */
const fastPath = async (conn: PoolConnection, events: OrderEvent[], payTimeoutMs: number): Promise<BatchOutcome | null> => {
  for (const [sku, skuEvents] of bySku(events)) {
    const units = unitsOf(skuEvents);
    const [taken] = await conn.query<ResultSetHeader>('UPDATE inventory SET stock = stock - ? WHERE sku = ? AND stock >= ?', [units, sku, units]);
    if (taken.affectedRows !== 1) return null;
  }
  try {
    await insertOrders(conn, events, payTimeoutMs);
  } catch (error) {
    if ((error as { errno?: number }).errno === ER_DUP_ENTRY) return null; // a redelivery or a second live order
    throw error;
  }
  return { applied: events, duplicates: [], rejected: [] };
};

/** Sorts the batch out order by order: redeliveries, refusals, then what fits. */
const carefulPath = async (conn: PoolConnection, events: OrderEvent[], payTimeoutMs: number): Promise<BatchOutcome> => {
  const outcome: BatchOutcome = { applied: [], duplicates: [], rejected: [] };
  const candidates = await screen(conn, events, outcome);
  for (const [sku, skuEvents] of bySku(candidates)) outcome.applied.push(...(await takeStock(conn, sku, skuEvents, outcome)));
  await insertOrders(conn, outcome.applied, payTimeoutMs);
  return outcome;
};

/**
 * Sorts out redeliveries, reused order ids and users who hold a live order,
 * with one query; returns the remaining events, in batch order.
 */
const screen = async (conn: PoolConnection, events: OrderEvent[], outcome: BatchOutcome): Promise<OrderEvent[]> => {
  const ids = [...new Set(events.map((e) => e.orderId))];
  const skus = [...new Set(events.map((e) => e.sku))];
  const users = [...new Set(events.map((e) => e.userId))];
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT order_id, sku, user_id, qty, request_id, live_user FROM orders WHERE order_id IN (?) OR (sku IN (?) AND live_user IN (?))',
    [ids, skus, users],
  );
  const seen = new Map<string, OrderContent>();
  const holders = new Set<string>();
  for (const r of rows) {
    seen.set(r.order_id, { sku: r.sku, userId: r.user_id, qty: r.qty, requestId: r.request_id });
    if (r.live_user !== null) holders.add(`${r.sku}/${r.live_user}`);
  }

  const candidates: OrderEvent[] = [];
  for (const event of events) {
    const before = seen.get(event.orderId);
    if (before !== undefined) {
      if (sameOrder(event, before)) outcome.duplicates.push(event);
      else outcome.rejected.push({ event, reason: 'ORDER_ID_REUSED' });
      continue;
    }
    seen.set(event.orderId, event);
    const holder = `${event.sku}/${event.userId}`;
    if (holders.has(holder)) {
      outcome.rejected.push({ event, reason: 'USER_HOLDS_ORDER' });
      continue;
    }
    holders.add(holder);
    candidates.push(event);
  }
  return candidates;
};

const unitsOf = (events: OrderEvent[]) => events.reduce((n, e) => n + e.qty, 0);

/** Takes what fits of a SKU's stock, in batch order; returns the events that got their units. */
const takeStock = async (conn: PoolConnection, sku: string, events: OrderEvent[], outcome: BatchOutcome): Promise<OrderEvent[]> => {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT stock FROM inventory WHERE sku = ? FOR UPDATE', [sku]);
  if (rows.length === 0) {
    for (const event of events) outcome.rejected.push({ event, reason: 'UNKNOWN_SKU' });
    return [];
  }
  let left = rows[0]!.stock as number;
  const fits: OrderEvent[] = [];
  for (const event of events) {
    if (event.qty <= left) {
      left -= event.qty;
      fits.push(event);
    } else outcome.rejected.push({ event, reason: 'OUT_OF_STOCK' });
  }
  if (fits.length > 0) await conn.query('UPDATE inventory SET stock = stock - ? WHERE sku = ?', [unitsOf(fits), sku]);
  return fits;
};

const insertOrders = async (conn: PoolConnection, applied: OrderEvent[], payTimeoutMs: number): Promise<void> => {
  if (applied.length === 0) return;
  await conn.query(
    'INSERT INTO orders (order_id, sku, user_id, qty, request_id, status, created_at, pay_deadline) VALUES ?',
    [applied.map((e) => [e.orderId, e.sku, e.userId, e.qty, e.requestId, 'PENDING', new Date(e.createdAt), new Date(e.createdAt + payTimeoutMs)])],
  );
};
