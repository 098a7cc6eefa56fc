import type { RowDataPacket } from 'mysql2/promise';

/**
 * The tables' columns (src/store/schema.ts) as mysql2 hands them back on our
 * pool (src/store/mysql.ts): INT and TINYINT as number, DATETIME as Date
 * (`dateStrings: false`, UTC), a NULL column as null. A query says what it
 * selects with `Row<Pick<OrderColumns, 'order_id' | 'user_id'>>`, or with the
 * fields it computes (`Row<{ n: number }>`): a SUM comes back as a DECIMAL
 * string, COUNT(*) as a number.
 */
export type Row<T> = RowDataPacket & T;

export interface InventoryColumns {
  sku: string;
  initial_stock: number;
  stock: number;
  per_user_limit: number;
  starts_at: Date | null;
  ends_at: Date | null;
  updated_at: Date;
  redis_buckets: number;
}

export interface OrderColumns {
  order_id: string;
  sku: string;
  user_id: string;
  qty: number;
  request_id: string;
  status: 'PENDING' | 'PAID' | 'CANCELLED';
  reason: string | null;
  created_at: Date;
  pay_deadline: Date;
  paid_at: Date | null;
  cancelled_at: Date | null;
  /** RELEASE_STATE in src/store/payments.ts */
  released_to_sale: number;
  /** request_id, or null when it is '' (generated: the unique key one_order_per_request) */
  request_key: string | null;
}

export interface HoldingColumns {
  sku: string;
  user_id: string;
  units: number;
  unit_limit: number;
}

export interface SchemaMigrationColumns {
  version: number;
  name: string;
  applied_at: Date;
}
