/** `node orders-main.js <mysql url> <sku>`: prints the SKU's orders in MySQL as JSON (run in a lab host, which reaches the lab's MySQL). */
import { openMysql } from '../../store/mysql.js';
import { readSkuRecord } from '../../store/orders.js';

const [url, sku] = process.argv.slice(2);
const pool = await openMysql(url);
try {
  const { inventory, orders } = await readSkuRecord(pool, sku);
  process.stdout.write(`${JSON.stringify({ orders, initialStock: inventory?.initialStock ?? null })}\n`);
} finally {
  await pool.end();
}
