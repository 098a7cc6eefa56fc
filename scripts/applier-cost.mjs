// The consumer's MySQL transaction alone (src/store/order-batch.ts: orders,
// holdings, the limit read, the guarded UPDATE), no Redis and no queue, next
// to the bare loop of `bench --drain-rate` (INSERT + UPDATE), batches of B
// (500), N orders each, twice, on the MySQL of MYSQL_URL. What the pipeline's
// drain could at best reach without overlapping transactions.
//
//   npm run build && node scripts/applier-cost.mjs
import { openMysql } from '../dist/store/mysql.js';
import { applyOrderBatch } from '../dist/store/order-batch.js';
import { writeBareOrders } from '../dist/store/baselines.js';
import { deleteSkuRecord, inventoryRecord } from '../dist/store/inventory.js';

const mysql = await openMysql(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/seckill');
const N = Number(process.env.N ?? 30_000);
const B = Number(process.env.B ?? 500);
for (const round of [1, 2]) {
  const sku = `applier-cost-${Date.now()}`;
  const raw = `${sku}-raw`;
  for (const s of [sku, raw]) await inventoryRecord(mysql).replace({ sku: s, stock: N, limit: 1, startsAt: null, endsAt: null });
  try {
    let started = performance.now();
    for (let i = 0; i < N; i += B) {
      const events = Array.from({ length: B }, (_, j) => ({
        orderId: `${sku}.o${String(i + j).padStart(12, '0')}`,
        sku,
        userId: `u${i + j}`,
        qty: 1,
        requestId: `r${i + j}`,
        createdAt: Date.now(),
      }));
      await applyOrderBatch(mysql, events, 900_000);
    }
    const applier = (N / (performance.now() - started)) * 1000;
    started = performance.now();
    await writeBareOrders(mysql, raw, N, B);
    const bare = (N / (performance.now() - started)) * 1000;
    console.log(
      `round ${round}, batches of ${B}: applier ${applier.toFixed(0)} orders/s, bare loop ${bare.toFixed(0)} orders/s, ratio ${(applier / bare).toFixed(2)}`,
    );
  } finally {
    for (const s of [sku, raw]) await deleteSkuRecord(mysql, s);
  }
}
await mysql.end();
