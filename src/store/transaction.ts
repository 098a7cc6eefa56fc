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

export class MysqlTimeoutError extends Error {
  readonly code = 'MYSQL_TIMEOUT';
}

/**
 * `work` on `conn`, given up after `deadlineMs`: the connection is destroyed
 * (MySQL rolls back what it had not committed once it sees it closed) and a
 * MysqlTimeoutError thrown, so the caller retries and says why. Without it a
 * paused or partitioned MySQL, which neither answers nor closes, leaves the
 * caller waiting in silence. Safe only for work that is idempotent when done
 * again, since a COMMIT may have landed before the deadline.
 */
export const withDeadline = async <T>(conn: PoolConnection, deadlineMs: number, work: () => Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      conn.destroy();
      reject(new MysqlTimeoutError(`MySQL did not answer within ${deadlineMs} ms: connection dropped`));
    }, deadlineMs);
  });
  try {
    // The work's own rejection (connection lost) once the connection is destroyed is handled by the race.
    return await Promise.race([work(), expired]);
  } finally {
    clearTimeout(timer);
  }
};
