import type { Pool, PoolConnection } from 'mysql2/promise';
import type { SkuDefinition } from '../sale/catalog.js';
import type { InventoryRecord } from '../sale/put-on-sale.js';
import type { InventoryColumns, Row } from './rows.js';
import { inTransaction } from './transaction.js';

export interface InventoryRow {
  sku: string;
  initialStock: number;
  stock: number;
  limit: number;
  startsAt: number | null;
  endsAt: number | null;
  /** Redis buckets the stock is split into (src/sale/buckets.ts) */
  buckets: number;
}

const toMs = (value: Date | null): number | null => (value === null ? null : value.getTime());
const toDate = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/** A pool, or one of its connections (inside a transaction or a snapshot). */
export type Queryable = Pool | PoolConnection;

export const getInventory = async (pool: Queryable, sku: string): Promise<InventoryRow | null> => {
  const [rows] = await pool.query<Row<Omit<InventoryColumns, 'updated_at'>>[]>(
    'SELECT sku, initial_stock, stock, per_user_limit, starts_at, ends_at, redis_buckets FROM inventory WHERE sku = ?',
    [sku],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    sku: row.sku,
    initialStock: row.initial_stock,
    stock: row.stock,
    limit: row.per_user_limit,
    startsAt: toMs(row.starts_at),
    endsAt: toMs(row.ends_at),
    buckets: row.redis_buckets,
  };
};

export const countOrders = async (pool: Pool, sku: string): Promise<number> => {
  const [rows] = await pool.query<Row<{ n: number }>[]>('SELECT COUNT(*) AS n FROM orders WHERE sku = ?', [sku]);
  return Number(rows[0].n);
};

/** Writes the SKU's inventory row, replacing any earlier one, and deletes its orders and holdings. */
export const replaceInventory = (pool: Pool, def: SkuDefinition): Promise<void> =>
  inTransaction(pool, async (conn) => {
    await conn.query('DELETE FROM orders WHERE sku = ?', [def.sku]);
    await conn.query('DELETE FROM holdings WHERE sku = ?', [def.sku]);
    await conn.query(
      `REPLACE INTO inventory (sku, initial_stock, stock, per_user_limit, starts_at, ends_at, redis_buckets)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [def.sku, def.stock, def.stock, def.limit, toDate(def.startsAt), toDate(def.endsAt), def.buckets ?? 1],
    );
  });

/** Opens or closes a sale at another time (bench schedules a scenario's opening when its load starts). */
export const setInventoryWindow = async (pool: Pool, sku: string, startsAt: number | null, endsAt: number | null): Promise<void> => {
  await pool.query('UPDATE inventory SET starts_at = ?, ends_at = ? WHERE sku = ?', [toDate(startsAt), toDate(endsAt), sku]);
};

/** Deletes a SKU's inventory row, orders and holdings: a sale bench made for a run and is done with. */
export const deleteSkuRecord = (pool: Pool, sku: string): Promise<void> =>
  inTransaction(pool, async (conn) => {
    for (const table of ['orders', 'holdings', 'inventory']) await conn.query(`DELETE FROM ${table} WHERE sku = ?`, [sku]);
  });

/** Units on sale in MySQL across some SKUs: one cheap query, for sampling during a load. */
export const totalMysqlStock = async (pool: Pool, skus: string[]): Promise<number> => {
  const [rows] = await pool.query<Row<{ n: string }>[]>('SELECT COALESCE(SUM(stock), 0) AS n FROM inventory WHERE sku IN (?)', [skus]);
  return Number(rows[0].n);
};

/** Every SKU with an inventory row. */
export const inventorySkus = async (pool: Pool): Promise<string[]> => {
  const [rows] = await pool.query<Row<Pick<InventoryColumns, 'sku'>>[]>('SELECT sku FROM inventory ORDER BY sku');
  return rows.map((r) => r.sku);
};

/** The inventory as putting a SKU on sale needs it (src/sale/put-on-sale.ts). */
export const inventoryRecord = (pool: Pool): InventoryRecord => ({
  read: (sku) => getInventory(pool, sku),
  countOrders: (sku) => countOrders(pool, sku),
  replace: (def) => replaceInventory(pool, def),
});
