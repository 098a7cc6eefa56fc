import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/bench/servers/ports.js';
import { createRedis, type RedisClient } from '../../src/redis/connection.js';
import { SKU_INDEX_KEY } from '../../src/redis/keys.js';
import { putOnSale } from '../../src/sale/put-on-sale.js';
import { inventoryRecord } from '../../src/store/inventory.js';
import { LocalMysql } from '../../src/store/local-mysql.js';
import { openMysql } from '../../src/store/mysql.js';
import type { OrderColumns, Row } from '../../src/store/rows.js';
import { metricValue, postJson, runSeckill, scrapeMetrics, startSeckill, uniqueSku, waitFor, type RunningProcess } from '../helpers.js';

/**
 * A sale on a MySQL of the test's own, stopped cleanly and then SIGKILLed
 * while buyers keep buying. The pipeline (serve, consume with --queue redis)
 * runs on a Redis database of the file's own, so no other test's consumer
 * reads this sale's outbox and none of theirs is read here.
 */
const REDIS_URL = 'redis://127.0.0.1:6379/12';
const DATABASE = 'seckill_restart';

let server: LocalMysql;
let dir: string;
let pool: Pool;
let redis: RedisClient;
const processes: RunningProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'seckill-mysql-restart-'));
  server = new LocalMysql({ dir, port: await freePort() });
  await server.start();
  pool = await openMysql(server.url(DATABASE));
  redis = createRedis(REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: 20 });
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  redis?.disconnect();
  await pool?.end().catch(() => {});
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ REDIS_URL, MYSQL_URL: server.url(DATABASE) });

const orderRows = async (sku: string) => {
  const [rows] = await pool.query<Row<Pick<OrderColumns, 'order_id' | 'status'>>[]>('SELECT order_id, status FROM orders WHERE sku = ?', [sku]);
  return rows;
};

/** Reads that fail while MySQL is away count as "not yet". */
const orderCount = async (sku: string): Promise<number> => (await orderRows(sku).catch(() => [])).length;

interface Answer {
  status: number;
  orderId: string | null;
}

/**
 * One buyer after another, `parallel` at a time, but only as many buyers as the
 * test has let in (`allow`): the crowd would otherwise sell out while MySQL
 * restarts on a slow machine, and the next outage would meet no buyer.
 */
const crowd = (url: string, sku: string, buyers: number, parallel: number) => {
  const answers: Answer[] = [];
  let next = 0;
  let allowed = 0;
  const waiting: (() => void)[] = [];
  const allow = (more: number) => {
    allowed = Math.min(buyers, allowed + more);
    for (const wake of waiting.splice(0)) wake();
  };
  const done = Promise.all(
    Array.from({ length: parallel }, async () => {
      for (;;) {
        while (next >= allowed && next < buyers) await new Promise<void>((r) => waiting.push(r));
        if (next >= buyers) return;
        const userId = `u${next++}`;
        const { status, body } = await postJson(`${url}/reserve`, { sku, userId, requestId: `${userId}-r1` });
        answers.push({ status, orderId: (body.orderId as string | undefined) ?? null });
        // A trickle, so the outages fall mid-sale rather than after it.
        await new Promise((r) => setTimeout(r, 5));
      }
    }),
  );
  return { answers, done, allow, all: () => allow(buyers) };
};

/** Buyers let in at each step: enough for 20 answers during an outage, well below the stock. */
const STEP = 60;

/** A sale of `stock` units on sale, serve and consume started on this file's stores, and a crowd of `buyers` buying. */
const startSale = async (label: string, stock: number, buyers: number) => {
  const sku = uniqueSku(label);
  await server.start(); // a no-op unless a failed test before this one left it stopped
  await redis.del(SKU_INDEX_KEY); // this database's index: this file's sale only
  await putOnSale(redis, inventoryRecord(pool), [{ sku, stock, limit: 1, startsAt: null, endsAt: null }], { reset: true });
  const serve = await startSeckill('serve', ['--port', '0'], env());
  processes.push(serve);
  // A short sweep interval: the payment-timeout sweeper meets the outage too.
  const metricsPort = await freePort();
  const consumer = await startSeckill(
    'consume',
    ['--queue', 'redis', '--claim-after', '500', '--sweep-interval', '100', '--metrics-port', String(metricsPort)],
    env(),
  );
  processes.push(consumer);
  const crowdOf = crowd(serve.ready.listening as string, sku, buyers, 4);
  crowdOf.allow(100);
  return {
    sku,
    consumer,
    buyers: crowdOf,
    metricsPort,
    sold: () => crowdOf.answers.filter((a) => a.status === 201).length,
    /** lines where the consumer said an order batch was not applied and will be retried */
    retriesLogged: () =>
      consumer
        .stderr()
        .split('\n')
        .filter((l) => l.includes('not applied') && l.includes('will retry')).length,
  };
};

type Sale = Awaited<ReturnType<typeof startSale>>;

/** Sold out, every 201 in MySQL once and nothing else, nothing dead-lettered, the consumer alive, reconcile drift 0. */
const expectSaleInStep = async ({ sku, consumer, buyers, metricsPort }: Sale, stock: number) => {
  await buyers.done;
  const answered = buyers.answers.filter((a) => a.status === 201);
  expect(answered.length).toBe(stock); // sold out: every unit answered once
  expect(buyers.answers.filter((a) => a.status >= 500)).toEqual([]);
  await waitFor(async () => (await orderCount(sku)) >= answered.length, 60_000, 'every answered order in MySQL');

  expect(consumer.process.exitCode).toBeNull();
  const rows = await orderRows(sku);
  expect(rows.map((r) => r.order_id).sort()).toEqual(answered.map((a) => a.orderId).sort());
  expect(rows.filter((r) => r.status !== 'PENDING')).toEqual([]);

  // Nothing dead-lettered (compensation deletes what it handled from the stream: its counter says what went there).
  const metrics = await scrapeMetrics(`http://127.0.0.1:${metricsPort}`);
  expect(metrics).not.toMatch(/^seckill_dead_letters_total\{.*\} [1-9]/m); // each reason is exported from the start, at 0
  expect(metricValue(metrics, 'seckill_consumer_retries_total{stage="mysql"}')).toBeGreaterThan(0);

  // Every reservation marked persisted: reconcile finds nothing, drift 0.
  await waitFor(
    async () => (await runSeckill(['reconcile', '--sku', sku, '--queue', 'redis', '--grace', '0', '--json'], env(), 30_000)).code === 0,
    30_000,
    'reconcile to find the stores in step',
  );
  const { stdout } = await runSeckill(['reconcile', '--sku', sku, '--queue', 'redis', '--json'], env(), 30_000);
  const report = JSON.parse(stdout) as { ok: boolean; skus: { sku: string; drift: number }[] };
  expect(report.ok).toBe(true);
  expect(report.skus.find((s) => s.sku === sku)?.drift).toBe(0);
};

describe('MySQL stopped and restarted mid-sale', () => {
  it('loses, doubles and dead-letters no order when MySQL is stopped cleanly and then SIGKILLed: every 201 in MySQL once, drift 0', async () => {
    const sale = await startSale('mysql-restart', 400, 600);
    const { sku, sold, retriesLogged } = sale;

    // 1. A clean shutdown while orders flow.
    await waitFor(async () => (await orderCount(sku)) >= 40, 30_000, 'the first orders in MySQL');
    const retriesBefore = retriesLogged();
    await server.stop();
    const soldAtStop = sold();
    sale.buyers.allow(STEP);
    await waitFor(() => sold() >= soldAtStop + 20, 30_000, 'buyers to be answered while MySQL is down');
    await waitFor(() => retriesLogged() > retriesBefore, 30_000, 'the consumer to say MySQL is away');
    await server.start();
    await waitFor(async () => (await orderCount(sku)) >= soldAtStop + 20, 30_000, 'the backlog of the first outage to drain');

    // 2. A crash: SIGKILL, no shutdown, InnoDB recovers at the start.
    const retriesBeforeKill = retriesLogged();
    await server.kill();
    const soldAtKill = sold();
    sale.buyers.allow(STEP);
    await waitFor(() => sold() >= soldAtKill + 20, 30_000, 'buyers to be answered while MySQL is dead');
    await waitFor(() => retriesLogged() > retriesBeforeKill, 30_000, 'the consumer to say MySQL is away again');
    await server.start();

    sale.buyers.all();
    await expectSaleInStep(sale, 400);
  });

  it('says so when MySQL stops answering mid-batch (paused: no answer, no refusal), and applies the backlog once when it answers again', async () => {
    const sale = await startSale('mysql-paused', 300, 450);
    const { sku, sold, retriesLogged } = sale;
    await waitFor(async () => (await orderCount(sku)) >= 40, 30_000, 'the first orders in MySQL');
    const retriesBefore = retriesLogged();
    await server.pause();
    try {
      const soldAtPause = sold();
      sale.buyers.allow(STEP);
      await waitFor(() => sold() >= soldAtPause + 20, 30_000, 'buyers to be answered while MySQL is paused');
      // Within the transaction deadline (10 s) and a little more, not never.
      await waitFor(() => retriesLogged() > retriesBefore, 20_000, 'the consumer to say MySQL does not answer');
      // A batch that needed a new connection says "connect ETIMEDOUT" first; one on a pooled connection,
      // mid-query, says nothing until the transaction deadline ends its wait: that line must come too.
      await waitFor(() => sale.consumer.stderr().includes('MySQL did not answer within'), 25_000, 'the transaction deadline to end a wait mid-query');
    } finally {
      await server.resume();
    }
    sale.buyers.all();
    await expectSaleInStep(sale, 300);
  });
});
