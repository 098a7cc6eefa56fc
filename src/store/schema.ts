import type { Pool, PoolConnection } from 'mysql2/promise';
import type { Row, SchemaMigrationColumns } from './rows.js';

/**
 * The tables of record, built by numbered migrations so that a database an
 * earlier version created is brought up to date in place. `schema_migrations`
 * records what was applied; a named lock keeps processes that start together
 * (bench starts serve, relay and consume at once) from migrating twice.
 *
 * - `inventory`: the stock of record (and how many Redis buckets it is split into).
 * - `orders`: one row per order (status PENDING, PAID or CANCELLED). A request
 *   id names one order per user and SKU (`one_order_per_request`), so a
 *   retried buy is never a second order.
 * - `holdings`: the units each user holds of a SKU in live orders, never more
 *   than `unit_limit` (the SKU's per-user limit, copied when the row is
 *   made): the database's own per-user limit, counted in units. Whoever
 *   writes or cancels an order updates it in the same transaction.
 */
export const MIGRATIONS: { name: string; statements: string[] }[] = [
  {
    name: '1 inventory and orders',
    statements: [
      `CREATE TABLE IF NOT EXISTS inventory (
         sku            VARCHAR(64)  NOT NULL PRIMARY KEY,
         initial_stock  INT          NOT NULL,
         stock          INT          NOT NULL,
         per_user_limit INT          NOT NULL,
         starts_at      DATETIME(3)  NULL,
         ends_at        DATETIME(3)  NULL,
         updated_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
         CONSTRAINT stock_not_negative CHECK (stock >= 0)
       ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS orders (
         order_id      VARCHAR(100) NOT NULL PRIMARY KEY,
         sku           VARCHAR(64)  NOT NULL,
         user_id       VARCHAR(64)  NOT NULL,
         qty           INT          NOT NULL,
         request_id    VARCHAR(64)  NOT NULL DEFAULT '',
         status        ENUM('PENDING','PAID','CANCELLED') NOT NULL DEFAULT 'PENDING',
         reason        VARCHAR(200) NULL,
         created_at    DATETIME(3)  NOT NULL,
         pay_deadline  DATETIME(3)  NOT NULL,
         paid_at       DATETIME(3)  NULL,
         cancelled_at  DATETIME(3)  NULL,
         released_to_sale TINYINT   NOT NULL DEFAULT 0,
         live_user     VARCHAR(64) AS (IF(status = 'CANCELLED', NULL, user_id)) PERSISTENT,
         UNIQUE KEY one_live_order_per_user (sku, live_user),
         KEY pending_by_deadline (status, pay_deadline),
         KEY cancelled_awaiting_release (status, released_to_sale),
         CONSTRAINT qty_positive CHECK (qty > 0)
       ) ENGINE=InnoDB`,
    ],
  },
  {
    // The per-user limit counts units over several orders (it was one live order).
    name: '2 per-user limit in units; one order per request id',
    statements: [
      `CREATE TABLE IF NOT EXISTS holdings (
         sku         VARCHAR(64) NOT NULL,
         user_id     VARCHAR(64) NOT NULL,
         units       INT         NOT NULL,
         unit_limit  INT         NOT NULL,
         PRIMARY KEY (sku, user_id),
         CONSTRAINT units_within_limit CHECK (units >= 0 AND units <= unit_limit)
       ) ENGINE=InnoDB`,
      `INSERT INTO holdings (sku, user_id, units, unit_limit)
         SELECT o.sku, o.user_id, SUM(o.qty), GREATEST(i.per_user_limit, SUM(o.qty))
         FROM orders o JOIN inventory i ON i.sku = o.sku
         WHERE o.status <> 'CANCELLED' GROUP BY o.sku, o.user_id, i.per_user_limit
       ON DUPLICATE KEY UPDATE units = VALUES(units), unit_limit = VALUES(unit_limit)`,
      `ALTER TABLE orders
         DROP INDEX IF EXISTS one_live_order_per_user,
         DROP COLUMN IF EXISTS live_user,
         ADD COLUMN IF NOT EXISTS request_key VARCHAR(64) AS (NULLIF(request_id, '')) PERSISTENT,
         ADD UNIQUE KEY IF NOT EXISTS one_order_per_request (sku, user_id, request_key)`,
    ],
  },
  {
    // A hot SKU's stock split over Redis buckets: a Redis rebuilt from MySQL must know into how many.
    name: '3 redis buckets per SKU',
    statements: ['ALTER TABLE inventory ADD COLUMN IF NOT EXISTS redis_buckets INT NOT NULL DEFAULT 1'],
  },
];

const LOCK = 'seckill_schema';
const LOCK_WAIT_SEC = 60;

export const ensureSchema = async (pool: Pool): Promise<void> => {
  const conn = await pool.getConnection();
  try {
    const [[lock]] = await conn.query<Row<{ got: number | null }>[]>('SELECT GET_LOCK(?, ?) AS got', [LOCK, LOCK_WAIT_SEC]);
    if (lock?.got !== 1) throw new Error(`another process held the schema lock ${LOCK} for over ${LOCK_WAIT_SEC} s`);
    try {
      await migrate(conn);
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [LOCK]);
    }
  } finally {
    conn.release();
  }
};

const migrate = async (conn: PoolConnection): Promise<void> => {
  await conn.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
     version    INT          NOT NULL PRIMARY KEY,
     name       VARCHAR(200) NOT NULL,
     applied_at DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
   ) ENGINE=InnoDB`);
  const [rows] = await conn.query<Row<Pick<SchemaMigrationColumns, 'version'>>[]>('SELECT version FROM schema_migrations');
  const applied = new Set(rows.map((r) => r.version));
  for (const [i, migration] of MIGRATIONS.entries()) {
    const version = i + 1;
    if (applied.has(version)) continue;
    // DDL commits as it goes: every statement is safe to run again (IF [NOT] EXISTS, upserts), so a migration cut half-way is finished by the next start.
    for (const sql of migration.statements) await conn.query(sql);
    await conn.query('INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [version, migration.name]);
  }
};
