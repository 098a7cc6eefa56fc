import type { Pool, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import type { OrderEvent } from '../sale/order-event.js';
import { addHoldings, ER_CONSTRAINT_FAILED, unitsByUser, unitsHeld } from './holdings.js';
import type { InventoryColumns, OrderColumns, Row } from './rows.js';
import { transactionOn, withDeadline } from './transaction.js';
import { MYSQL_TRANSACTION_DEADLINE_MS } from '../config.js';
import { groupBy } from '../group-by.js';

/** Why MySQL refuses an order event (its dead letter's reason); the pipeline's metrics count each from 0. */
export const REJECTION_REASONS = ['UNKNOWN_SKU', 'OUT_OF_STOCK', 'OVER_LIMIT', 'ORDER_ID_REUSED', 'REQUEST_ID_REUSED'] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export interface Rejection {
  event: OrderEvent;
  /** why MySQL cannot take it */
  reason: RejectionReason;
}

export interface BatchOutcome {
  applied: OrderEvent[];
  /** already in MySQL with the same content and live: a redelivery, changes nothing */
  duplicates: OrderEvent[];
  /** already in MySQL with the same content and cancelled (refused earlier, or not paid): changes nothing */
  cancelledBefore: OrderEvent[];
  rejected: Rejection[];
}

/**
 * Refusals written down as a CANCELLED order (reason `DEAD_LETTER:<why>`) in
 * the transaction that refuses them: a redelivery of the same event then
 * finds its order and changes nothing, so a refusal is final even when the
 * consumer dies before acknowledging it. A reused order or request id cannot
 * have a row of its own (it would collide with the order that has it); it is
 * refused again on every delivery instead.
 */
const RECORDED: ReadonlySet<RejectionReason> = new Set(['UNKNOWN_SKU', 'OUT_OF_STOCK', 'OVER_LIMIT']);

export const refusalReason = (reason: string): string => `DEAD_LETTER:${reason}`;

type OrderContent = Pick<OrderEvent, 'sku' | 'userId' | 'qty' | 'requestId'>;

const sameOrder = (a: OrderContent, b: OrderContent) => a.sku === b.sku && a.userId === b.userId && a.qty === b.qty && a.requestId === b.requestId;

/**
 * Writes a batch of order events to MySQL in one transaction:
 * - idempotent by order id: an order already there changes nothing;
 * - one guarded UPDATE per SKU per batch (`stock >= n`), not one per order:
 *   the hot row is touched once, and SKUs are updated in SKU order so two
 *   consumers never deadlock;
 * - each user's units go into `holdings`, whose CHECK is the per-user limit;
 * - what the database cannot take (unknown SKU, no stock, a user past the
 *   limit, an order or request id reused for other content) is returned as
 *   rejected, for the dead-letter queue, and recorded as a CANCELLED order
 *   where it can be (see RECORDED).
 *
 * An order's payment window opens when it is written here (`now`), not when
 * it was reserved: a pipeline that lagged does not write orders born expired.
 *
 * The common batch — new orders whose units Redis sold — is written straight
 * away (the fast path: the bare INSERT + UPDATE statements, and the holdings).
 * Only when the database refuses it (a guard, a CHECK or a unique key says
 * no) is it rolled back and sorted out order by order (the careful path).
 * Throws (and writes nothing) if MySQL fails or does not answer within
 * `deadlineMs`; the caller retries the batch.
 */
export const applyOrderBatch = async (
  pool: Pool,
  events: OrderEvent[],
  payTimeoutMs: number,
  now = Date.now(),
  deadlineMs = MYSQL_TRANSACTION_DEADLINE_MS,
): Promise<BatchOutcome> => {
  if (events.length === 0) return { applied: [], duplicates: [], cancelledBefore: [], rejected: [] };
  const conn = await pool.getConnection();
  try {
    // Idempotent by order id, so a batch given up on at the deadline may be applied again.
    return await withDeadline(conn, deadlineMs, async () => {
      // The fast path answers null when the database refuses the batch as it is: rolled back, then sorted out.
      const fast = await transactionOn(
        conn,
        () => fastPath(conn, events, payTimeoutMs, now),
        (result) => result !== null,
      );
      return fast ?? (await transactionOn(conn, () => carefulPath(conn, events, payTimeoutMs, now)));
    });
  } finally {
    conn.release();
  }
};

const ER_DUP_ENTRY = 1062;
const errnoOf = (error: unknown) => (error as { errno?: number }).errno;

const bySku = (events: OrderEvent[]): [string, OrderEvent[]][] => [...groupBy(events, (e) => e.sku)].sort(([a], [b]) => (a < b ? -1 : 1));

const unitsOf = (events: OrderEvent[]) => events.reduce((n, e) => n + e.qty, 0);

/** Every event new, its units in stock and within its user's limit: applied as it is. Null when the database says otherwise. */
const fastPath = async (conn: PoolConnection, events: OrderEvent[], payTimeoutMs: number, now: number): Promise<BatchOutcome | null> => {
  const groups = bySku(events);
  const [rows] = await conn.query<Row<Pick<InventoryColumns, 'sku' | 'per_user_limit'>>[]>('SELECT sku, per_user_limit FROM inventory WHERE sku IN (?)', [
    groups.map(([sku]) => sku),
  ]);
  const limits = new Map(rows.map((r) => [r.sku, r.per_user_limit]));
  if (groups.some(([sku]) => !limits.has(sku))) return null;
  try {
    // The hot inventory rows are locked last: until its guarded UPDATEs, a
    // batch holds only its own new rows, so concurrent batches of one SKU
    // (other consumers, or --concurrency) write their orders side by side and
    // queue only for the short UPDATE and the commit.
    await insertOrders(conn, events, { status: 'PENDING', payDeadline: now + payTimeoutMs });
    for (const [sku, skuEvents] of groups) await addHoldings(conn, sku, limits.get(sku)!, unitsByUser(skuEvents));
    for (const [sku, skuEvents] of groups) {
      const units = unitsOf(skuEvents);
      const [taken] = await conn.query<ResultSetHeader>('UPDATE inventory SET stock = stock - ? WHERE sku = ? AND stock >= ?', [units, sku, units]);
      if (taken.affectedRows !== 1) return null;
    }
  } catch (error) {
    // A user past the limit, a redelivery, or a reused request id: sorted out order by order.
    if (errnoOf(error) === ER_CONSTRAINT_FAILED || errnoOf(error) === ER_DUP_ENTRY) return null;
    throw error;
  }
  return { applied: events, duplicates: [], cancelledBefore: [], rejected: [] };
};

/** Sorts the batch out order by order: redeliveries, refusals, then what fits. */
const carefulPath = async (conn: PoolConnection, events: OrderEvent[], payTimeoutMs: number, now: number): Promise<BatchOutcome> => {
  const outcome: BatchOutcome = { applied: [], duplicates: [], cancelledBefore: [], rejected: [] };
  const candidates = await screen(conn, events, outcome);
  for (const [sku, skuEvents] of bySku(candidates)) outcome.applied.push(...(await takeStock(conn, sku, skuEvents, outcome)));
  await insertOrders(conn, outcome.applied, { status: 'PENDING', payDeadline: now + payTimeoutMs });
  for (const [reason, refused] of groupRecorded(outcome.rejected))
    await insertOrders(conn, refused, { status: 'CANCELLED', reason: refusalReason(reason), at: now });
  return outcome;
};

const groupRecorded = (rejected: Rejection[]): [RejectionReason, OrderEvent[]][] =>
  [
    ...groupBy(
      rejected.filter((r) => RECORDED.has(r.reason)),
      (r) => r.reason,
    ),
  ].map(([reason, refused]) => [reason, refused.map((r) => r.event)]);

/**
 * Sorts out redeliveries and reused order or request ids with one query;
 * returns the remaining events, in batch order.
 */
const screen = async (conn: PoolConnection, events: OrderEvent[], outcome: BatchOutcome): Promise<OrderEvent[]> => {
  const ids = [...new Set(events.map((e) => e.orderId))];
  const withRequest = events.filter((e) => e.requestId !== '');
  const requestMatch = withRequest.length === 0 ? '' : ' OR (sku IN (?) AND user_id IN (?) AND request_key IN (?))';
  const requestParams =
    withRequest.length === 0
      ? []
      : [[...new Set(withRequest.map((e) => e.sku))], [...new Set(withRequest.map((e) => e.userId))], [...new Set(withRequest.map((e) => e.requestId))]];
  const [rows] = await conn.query<Row<Pick<OrderColumns, 'order_id' | 'sku' | 'user_id' | 'qty' | 'request_id' | 'status'>>[]>(
    `SELECT order_id, sku, user_id, qty, request_id, status FROM orders WHERE order_id IN (?)${requestMatch}`,
    [ids, ...requestParams],
  );
  const seen = new Map<string, OrderContent & { cancelled: boolean }>();
  const requestOwner = new Map<string, string>();
  const requestOf = (e: OrderContent) => `${e.sku}/${e.userId}/${e.requestId}`;
  for (const r of rows) {
    const content = { sku: r.sku, userId: r.user_id, qty: r.qty, requestId: r.request_id };
    seen.set(r.order_id, { ...content, cancelled: r.status === 'CANCELLED' });
    if (content.requestId !== '') requestOwner.set(requestOf(content), r.order_id);
  }

  const candidates: OrderEvent[] = [];
  for (const event of events) {
    const before = seen.get(event.orderId);
    if (before !== undefined) {
      if (!sameOrder(event, before)) outcome.rejected.push({ event, reason: 'ORDER_ID_REUSED' });
      else if (before.cancelled) outcome.cancelledBefore.push(event);
      else outcome.duplicates.push(event);
      continue;
    }
    const owner = event.requestId === '' ? undefined : requestOwner.get(requestOf(event));
    if (owner !== undefined && owner !== event.orderId) {
      outcome.rejected.push({ event, reason: 'REQUEST_ID_REUSED' });
      continue;
    }
    // A second copy later in this batch is a redelivery of this one.
    seen.set(event.orderId, { ...event, cancelled: false });
    if (event.requestId !== '') requestOwner.set(requestOf(event), event.orderId);
    candidates.push(event);
  }
  return candidates;
};

/**
 * Takes what fits of a SKU's stock and its users' limits, in batch order,
 * under the inventory row's lock (so two batches of one SKU see each other's
 * holdings); returns the events that got their units.
 */
const takeStock = async (conn: PoolConnection, sku: string, events: OrderEvent[], outcome: BatchOutcome): Promise<OrderEvent[]> => {
  const [rows] = await conn.query<Row<Pick<InventoryColumns, 'stock' | 'per_user_limit'>>[]>(
    'SELECT stock, per_user_limit FROM inventory WHERE sku = ? FOR UPDATE',
    [sku],
  );
  if (rows.length === 0) {
    for (const event of events) outcome.rejected.push({ event, reason: 'UNKNOWN_SKU' });
    return [];
  }
  let left = rows[0].stock;
  const limit = rows[0].per_user_limit;
  const held = await unitsHeld(conn, sku, [...new Set(events.map((e) => e.userId))]);
  const fits: OrderEvent[] = [];
  for (const event of events) {
    const units = held.get(event.userId) ?? 0;
    if (units + event.qty > limit) outcome.rejected.push({ event, reason: 'OVER_LIMIT' });
    else if (event.qty > left) outcome.rejected.push({ event, reason: 'OUT_OF_STOCK' });
    else {
      left -= event.qty;
      held.set(event.userId, units + event.qty);
      fits.push(event);
    }
  }
  if (fits.length > 0) {
    await conn.query('UPDATE inventory SET stock = stock - ? WHERE sku = ?', [unitsOf(fits), sku]);
    await addHoldings(conn, sku, limit, unitsByUser(fits));
  }
  return fits;
};

type RowState = { status: 'PENDING'; payDeadline: number } | { status: 'CANCELLED'; reason: string; at: number };

const insertOrders = async (conn: PoolConnection, events: OrderEvent[], state: RowState): Promise<void> => {
  if (events.length === 0) return;
  const pending = state.status === 'PENDING';
  // Rows in order-id order, for the same reason as the holdings' (a redelivery racing its first delivery).
  const rows = [...events].sort((a, b) => (a.orderId < b.orderId ? -1 : a.orderId > b.orderId ? 1 : 0));
  await conn.query('INSERT INTO orders (order_id, sku, user_id, qty, request_id, status, reason, created_at, pay_deadline, cancelled_at) VALUES ?', [
    rows.map((e) => [
      e.orderId,
      e.sku,
      e.userId,
      e.qty,
      e.requestId,
      state.status,
      pending ? null : state.reason,
      new Date(e.createdAt),
      new Date(pending ? state.payDeadline : state.at),
      pending ? null : new Date(state.at),
    ]),
  ]);
};
