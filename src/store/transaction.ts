import type { Pool, PoolConnection } from 'mysql2/promise';

/**
 * The one way this code runs a MySQL transaction: committed when `keep` says
 * so of the result (by default always), rolled back when it does not or when
 * `work` throws — the error is rethrown as it is, a failed rollback (the
 * connection gone) adding nothing to it.
 */
export const transactionOn = async <T>(
  conn: PoolConnection,
  work: (conn: PoolConnection) => Promise<T>,
  keep: (result: T) => boolean = () => true,
): Promise<T> => {
  await conn.beginTransaction();
  try {
    const result = await work(conn);
    if (keep(result)) await conn.commit();
    else await conn.rollback();
    return result;
  } catch (error) {
    await conn.rollback().catch(() => {}); // the connection may be gone: the error says why
    throw error;
  }
};

/** A transaction on a connection of its own from the pool, given back whatever happens. */
export const inTransaction = async <T>(pool: Pool, work: (conn: PoolConnection) => Promise<T>, keep?: (result: T) => boolean): Promise<T> => {
  const conn = await pool.getConnection();
  try {
    return await transactionOn(conn, work, keep);
  } finally {
    conn.release();
  }
};
