import mysql, { type Pool } from 'mysql2/promise';
import { ConfigError } from '../config.js';
import type { Row } from './rows.js';
import { ensureSchema } from './schema.js';

/**
 * Opens a pool on the database named in the URL, creating the database and
 * the schema first when they are missing.
 */
export const openMysql = async (url: string, options: { connectionLimit?: number } = {}): Promise<Pool> => {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'seckill';
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    throw new ConfigError(`MYSQL_URL names database ${JSON.stringify(database)}: use letters, digits and _ only`);
  }
  const base = {
    host: parsed.hostname,
    port: Number(parsed.port || 3306),
    user: decodeURIComponent(parsed.username || 'root'),
    password: decodeURIComponent(parsed.password),
  };
  try {
    const admin = await mysql.createConnection({ ...base, connectTimeout: 3_000 });
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
    await admin.end();
  } catch (error) {
    throw new Error(`cannot reach MySQL at ${parsed.hostname}:${base.port}: ${(error as Error).message}`, { cause: error });
  }
  const pool = mysql.createPool({
    ...base,
    database,
    connectionLimit: options.connectionLimit ?? 10,
    connectTimeout: 3_000,
    timezone: 'Z',
    dateStrings: false,
  });
  try {
    await ensureSchema(pool);
  } catch (error) {
    await pool.end().catch(() => {}); // the caller may try again with a new pool
    throw error;
  }
  return pool;
};

/** Whether MySQL answers (GET /health). */
export const pingMysql = async (pool: Pool): Promise<void> => {
  await pool.query('SELECT 1');
};

/** The server's version string (MariaDB says so in it), for reports. */
export const mysqlServerVersion = async (pool: Pool): Promise<string> => {
  const [rows] = await pool.query<Row<{ version: string }>[]>('SELECT VERSION() AS version');
  return rows[0]?.version ?? 'unknown';
};
