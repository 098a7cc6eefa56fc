import type { Pool } from 'mysql2/promise';

/**
 * The tables of record. `orders.live_user` is the user id while the order is
 * not cancelled and NULL after: the unique key on (sku, live_user) is the
 * database's own "one live order per user per SKU" rule, while a user whose
 * order was cancelled may buy again.
 */
const STATEMENTS = [
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
     -- 1 once a cancelled order's unit is back on sale in Redis (release.lua ran)
     released_to_sale TINYINT   NOT NULL DEFAULT 0,
     live_user     VARCHAR(64) AS (IF(status = 'CANCELLED', NULL, user_id)) PERSISTENT,
     UNIQUE KEY one_live_order_per_user (sku, live_user),
     KEY pending_by_deadline (status, pay_deadline),
     KEY cancelled_awaiting_release (status, released_to_sale),
     CONSTRAINT qty_positive CHECK (qty > 0)
   ) ENGINE=InnoDB`,
];

export const ensureSchema = async (pool: Pool): Promise<void> => {
  for (const sql of STATEMENTS) await pool.query(sql);
};
