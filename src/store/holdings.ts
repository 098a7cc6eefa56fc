import type { PoolConnection } from 'mysql2/promise';
import type { HoldingColumns, Row } from './rows.js';

/**
 * The `holdings` table: units each user holds of a SKU in live orders. Its
 * CHECK (units <= unit_limit) is the per-user limit the database enforces
 * itself, whatever the caller checked before. Called inside the caller's
 * transaction, next to the order rows it changes.
 */

/** MariaDB's error when a CHECK constraint refuses a row. */
export const ER_CONSTRAINT_FAILED = 4025;

/** Units each of `userIds` holds of `sku` now (absent: none). */
export const unitsHeld = async (conn: PoolConnection, sku: string, userIds: string[]): Promise<Map<string, number>> => {
  if (userIds.length === 0) return new Map();
  const [rows] = await conn.query<Row<Pick<HoldingColumns, 'user_id' | 'units'>>[]>('SELECT user_id, units FROM holdings WHERE sku = ? AND user_id IN (?)', [
    sku,
    userIds,
  ]);
  return new Map(rows.map((r) => [r.user_id, r.units]));
};

/**
 * Adds units to users' holdings of one SKU (`limit`: the SKU's per-user
 * limit). Throws ER_CONSTRAINT_FAILED when a user would pass it.
 */
export const addHoldings = async (conn: PoolConnection, sku: string, limit: number, units: Map<string, number>): Promise<void> => {
  if (units.size === 0) return;
  // Rows in user order: concurrent batches then lock a SKU's holdings in one order, and cannot deadlock on them.
  const rows = [...units].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([userId, n]) => [sku, userId, n, limit]);
  await conn.query('INSERT INTO holdings (sku, user_id, units, unit_limit) VALUES ? ON DUPLICATE KEY UPDATE units = units + VALUES(units)', [rows]);
};

/** Adds one order's units to its user's holding, the limit read from the SKU's inventory row. Throws ER_CONSTRAINT_FAILED past the limit. */
export const addHolding = async (conn: PoolConnection, sku: string, userId: string, qty: number): Promise<void> => {
  await conn.query(
    'INSERT INTO holdings (sku, user_id, units, unit_limit) SELECT sku, ?, ?, per_user_limit FROM inventory WHERE sku = ? ON DUPLICATE KEY UPDATE units = units + VALUES(units)',
    [userId, qty, sku],
  );
};

/**
 * Gives a cancelled order's units back to its user's allowance. Never below
 * 0: an order written around the pipeline (by hand) may not be counted.
 */
export const releaseHolding = async (conn: PoolConnection, sku: string, userId: string, qty: number): Promise<void> => {
  await conn.query('UPDATE holdings SET units = GREATEST(units - ?, 0) WHERE sku = ? AND user_id = ?', [qty, sku, userId]);
};

/** Units per user in some orders of one SKU. */
export const unitsByUser = (orders: readonly { userId: string; qty: number }[]): Map<string, number> => {
  const units = new Map<string, number>();
  for (const o of orders) units.set(o.userId, (units.get(o.userId) ?? 0) + o.qty);
  return units;
};
