import { afterAll, describe, expect, it } from 'vitest';
import type { CloseReport } from '../../src/reconcile/close.js';
import { reconcileSku } from '../../src/reconcile/drift.js';
import { hostname } from 'node:os';
import { allSkuKeys, DEAD_LETTER_STREAM, SKU_INDEX_KEY, skuKeys } from '../../src/redis/keys.js';
import { Reservations } from '../../src/sale/reservations.js';
import type { OrderEvent } from '../../src/sale/order-event.js';
import { applyOrderBatch } from '../../src/store/order-batch.js';
import { newRedis, preloadSku, runSeckill, snapshotSku, startSeckill, testMysql, uniqueSku, waitFor } from '../helpers.js';

/** `seckill close`: a sale that has ended and settled keeps only what reconcile needs in Redis. */

const redis = newRedis();
const reservations = new Reservations(redis);
afterAll(async () => {
  redis.disconnect();
  await (await testMysql()).end();
});

/** `buyers` reserve a unit each; the orders reach MySQL and are marked persisted, as the pipeline would; `paid` of them are paid. */
const sell = async (sku: string, buyers: number, paid: number): Promise<void> => {
  const events: OrderEvent[] = [];
  for (let i = 0; i < buyers; i++) {
    const { orderId } = await reservations.reserve({ sku, userId: `u${i}`, qty: 1, requestId: `r${i}` });
    events.push(JSON.parse((await redis.hget(skuKeys(sku).reservations, orderId!))!) as OrderEvent);
  }
  await applyOrderBatch(await testMysql(), events, 900_000);
  await reservations.markPersisted(
    sku,
    events.map((e) => e.orderId),
  );
  await (await testMysql()).query(`UPDATE orders SET status = 'PAID', paid_at = NOW(3) WHERE order_id IN (?)`, [events.slice(0, paid).map((e) => e.orderId)]);
};

/** `seckill close --json`: its exit code and the report it printed (a run that printed none fails the test here, saying why). */
const close = async (...args: string[]) => {
  const run = await runSeckill(['close', '--json', ...args]);
  if (!run.stdout) return expect.fail(`close printed no report (exit ${run.code}): ${run.stderr}`);
  return { code: run.code, report: JSON.parse(run.stdout) as CloseReport, stderr: run.stderr };
};

describe('seckill close', () => {
  it('refuses, changing nothing, a sale that has not ended or has orders awaiting payment, and says why', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('close-early'), stock: 10 });
    await sell(sku, 3, 1);
    const before = await snapshotSku(redis, sku);
    const open = await close('--sku', sku);
    expect(open.code).toBe(1);
    expect(open.report.closed).toBe(false);
    expect(open.report.notYet.join('\n')).toContain('the sale has no end: add --end-now');
    expect(open.report.notYet.join('\n')).toContain('2 order(s) await payment');
    expect(await snapshotSku(redis, sku)).toEqual(before);

    await (await testMysql()).query(`UPDATE orders SET status = 'PAID' WHERE sku = ?`, [sku]);
    const inFlight = await reservations.reserve({ sku, userId: 'late', qty: 1 }); // reserved, never reached MySQL
    const ended = await close('--sku', sku, '--end-now');
    expect(ended.code).toBe(1);
    expect(ended.report.endedNow).toBe(true);
    expect(ended.report.notYet.join('\n')).toContain('1 unit(s) reserved and not yet in MySQL');
    expect(await redis.hexists(skuKeys(sku).reservations, inFlight.orderId!)).toBe(1);
  });

  it('closes an ended, settled sale: only stock and meta stay, relays and sweepers forget it, reconcile stays clean, buyers are told ENDED', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('close'), stock: 200 });
    await sell(sku, 150, 150);
    const closed = await close('--sku', sku, '--end-now');
    expect(closed.report.notYet).toEqual([]);
    expect(closed.code).toBe(0);
    expect(closed.report).toMatchObject({ closed: true, soldUnits: 150 });
    // What a sold unit costs in Redis before and after.
    expect(closed.report.bytesAfter).toBeLessThan(closed.report.bytesBefore / 20);

    const k = skuKeys(sku);
    const left = (await Promise.all(allSkuKeys(sku).map(async (key) => ((await redis.exists(key)) ? key : null)))).filter(Boolean);
    expect(left.sort()).toEqual([k.meta, k.stock].sort());
    expect(await redis.sismember(SKU_INDEX_KEY, sku)).toBe(0);
    expect(await reconcileSku({ redis, mysql: await testMysql() }, sku, 0)).toMatchObject({ drift: 0, redisStock: 50, mysqlStock: 50, findings: [] });
    // A buyer, or a retry of an old request, after the close.
    expect((await reservations.reserve({ sku, userId: 'u1', qty: 1, requestId: 'r1' })).outcome).toBe('ENDED');

    const again = await close('--sku', sku);
    expect(again.code).toBe(0);
    expect(again.report.alreadyClosed).toBe(true);
  });

  it('leaves no dead reader behind: a consumer stopped with SIGTERM takes its names out of the stream groups it joined', async () => {
    const consumer = await startSeckill('consume', ['--queue', 'redis', '--concurrency', '2']);
    const names = [0, 1].map((i) => `${hostname()}-${consumer.process.pid}-${i}`);
    const members = async () => {
      const groups = (await redis.xinfo('GROUPS', DEAD_LETTER_STREAM)) as string[][];
      const all = await Promise.all(groups.map((g) => redis.xinfo('CONSUMERS', DEAD_LETTER_STREAM, g[1]) as Promise<string[][]>));
      return all.flat().map((c) => c[1]);
    };
    const joined = async () => (await redis.exists(DEAD_LETTER_STREAM)) === 1 && (await members()).filter((m) => names.includes(m)).length === names.length;
    await waitFor(joined, 10_000, 'the consumer to join');
    expect(await consumer.stop()).toBe(0);
    expect(await members()).not.toContain(names[0]);
    expect(await members()).not.toContain(names[1]);
  });

  it('refuses a SKU this Redis does not hold, exit 2', async () => {
    const run = await runSeckill(['close', '--sku', uniqueSku('nowhere')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not on sale in this Redis');
  });
});
