import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { openMysql } from '../../src/store/mysql.js';
import type { HoldingColumns, Row, SchemaMigrationColumns } from '../../src/store/rows.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { connections } from '../helpers.js';

/** A database an earlier version made (one live order per user, no holdings) is brought up to date in place. */

const base = new URL(connections.mysqlUrl);
const database = `${base.pathname.slice(1)}_migrate`;
const url = new URL(connections.mysqlUrl);
url.pathname = `/${database}`;
const admin = () =>
  mysql.createConnection({
    host: base.hostname,
    port: Number(base.port || 3306),
    user: base.username || 'root',
    password: base.password,
    multipleStatements: false,
  });

afterAll(async () => {
  const conn = await admin();
  await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await conn.end();
});

describe('schema migrations', () => {
  it('upgrade a database of the first version: holdings counted from its live orders, one order per request id, run once', async () => {
    const conn = await admin();
    await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await conn.query(`CREATE DATABASE \`${database}\``);
    await conn.changeUser({ database });
    for (const sql of MIGRATIONS[0].statements) await conn.query(sql);
    await conn.query(`INSERT INTO inventory (sku, initial_stock, stock, per_user_limit) VALUES ('old', 10, 7, 2)`);
    await conn.query(
      `INSERT INTO orders (order_id, sku, user_id, qty, request_id, status, created_at, pay_deadline) VALUES
         ('old.a', 'old', 'ann', 2, 'r1', 'PENDING', NOW(3), NOW(3)),
         ('old.b', 'old', 'bob', 1, '', 'PAID', NOW(3), NOW(3)),
         ('old.c', 'old', 'cy', 1, 'r1', 'CANCELLED', NOW(3), NOW(3))`,
    );
    await conn.end();

    // Two processes starting at once (bench starts serve, relay and consume together) migrate once.
    const pools = await Promise.all([openMysql(url.toString()), openMysql(url.toString())]);
    const [pool] = pools;
    const [holdings] = await pool.query<Row<Pick<HoldingColumns, 'user_id' | 'units' | 'unit_limit'>>[]>(
      'SELECT user_id, units, unit_limit FROM holdings ORDER BY user_id',
    );
    expect(holdings.map((h) => [h.user_id, h.units, h.unit_limit])).toEqual([
      ['ann', 2, 2],
      ['bob', 1, 2],
    ]);
    const [versions] = await pool.query<Row<Pick<SchemaMigrationColumns, 'version'>>[]>('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    // The new rules hold on the old data.
    await expect(pool.query(`UPDATE holdings SET units = 3 WHERE user_id = 'ann'`)).rejects.toThrow(/CONSTRAINT/i);
    await expect(
      pool.query(
        `INSERT INTO orders (order_id, sku, user_id, qty, request_id, created_at, pay_deadline) VALUES ('old.d', 'old', 'ann', 1, 'r1', NOW(3), NOW(3))`,
      ),
    ).rejects.toThrow(/Duplicate/);
    await Promise.all(pools.map((p) => p.end()));
  });
});
