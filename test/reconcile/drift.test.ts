import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from 'mysql2/promise';
import type { SkuState } from '../../src/sale/state.js';
import { findDrift, knownSkus, MAX_IDS, readDriftInput, reconcileSku, type DriftSource, type SkuDriftReport } from '../../src/reconcile/drift.js';
import { allSkuKeys, SKU_INDEX_KEY, skuKeys } from '../../src/redis/keys.js';
import { freezeSku, loadSkuIntoRedis, thawSku } from '../../src/sale/catalog.js';
import { bucketIndexes, bucketOfUser } from '../../src/sale/buckets.js';
import { bucketOfOrderId } from '../../src/sale/ids.js';
import { returnToSale } from '../../src/payment/return-to-sale.js';
import { cancelExpiredOrders } from '../../src/store/payments.js';
import { getInventory } from '../../src/store/inventory.js';
import { Reservations } from '../../src/sale/reservations.js';
import { applyOrderBatch } from '../../src/store/order-batch.js';
import { applyFixes, planFixes, planIsEmpty } from '../../src/reconcile/fix.js';
import type { ReconcileReport } from '../../src/reconcile/report.js';
import { connections, newRedis, outboxEvents, preloadSku, snapshotSku, testMysql, uniqueSku, waitFor, runSeckill } from '../helpers.js';

const redis = newRedis();
const reservations = new Reservations(redis);
let mysql: Pool;
let source: DriftSource;
beforeAll(async () => {
  mysql = await testMysql();
  source = { redis, mysql };
});
afterAll(() => redis.quit());

const PAY_TIMEOUT_MS = 15 * 60_000;
const GRACE_MS = 60_000;

/** Reserves in Redis for each user; returns the order ids. */
const reserve = async (sku: string, users: string[]): Promise<string[]> => {
  const ids: string[] = [];
  for (const userId of users) {
    const result = await reservations.reserve({ sku, userId, qty: 1 });
    expect(result.outcome).toBe('OK');
    ids.push(result.orderId!);
  }
  return ids;
};

interface Told {
  userId: string;
  requestId: string;
  orderId: string;
}

/** Each user reserves one unit with a request id of its own, in its bucket as the gateway picks it; returns what each was told. */
const reserveTold = async (sku: string, users: string[], buckets = 1): Promise<Told[]> => {
  const told: Told[] = [];
  for (const userId of users) {
    const requestId = `r-${userId}`;
    const result = await reservations.reserve({ sku, userId, qty: 1, requestId }, Date.now(), null, bucketOfUser(userId, buckets));
    expect(result.outcome).toBe('OK');
    told.push({ userId, requestId, orderId: result.orderId! });
  }
  return told;
};

/** What the payment sweeper does to an order its buyer did not pay in time: cancelled in MySQL, its unit back on sale in Redis. */
const cancelUnpaid = async (sku: string, orderId: string): Promise<void> => {
  await mysql.query('UPDATE orders SET pay_deadline = NOW(3) - INTERVAL 1 SECOND WHERE order_id = ?', [orderId]);
  const cancelled = await cancelExpiredOrders(mysql, [sku], 'PAYMENT_TIMEOUT', 10);
  expect(cancelled.map((o) => o.orderId)).toEqual([orderId]);
  expect(await returnToSale(mysql, reservations, cancelled)).toEqual(['RELEASED']);
};

/** What the consumer does: the orders into MySQL, then marked persisted (unless told not to). */
const persist = async (sku: string, orderIds: string[], mark = true): Promise<void> => {
  const events = [];
  for (const id of orderIds) {
    const { orderId, userId, qty, requestId, createdAt } = (await reservations.get(sku, id))!;
    events.push({ orderId, sku, userId, qty, requestId, createdAt });
  }
  const outcome = await applyOrderBatch(mysql, events, PAY_TIMEOUT_MS);
  expect(outcome.applied).toHaveLength(orderIds.length);
  if (mark) await reservations.markPersisted(sku, orderIds);
};

/** A sale of 10 units where u1 and u2 bought one each and both orders reached MySQL: every store agrees. */
const cleanSale = async (label: string): Promise<{ sku: string; orderIds: string[] }> => {
  const sku = uniqueSku(label);
  await preloadSku(redis, { sku, stock: 10 });
  const orderIds = await reserve(sku, ['u1', 'u2']);
  await persist(sku, orderIds);
  return { sku, orderIds };
};

const check = async (sku: string, graceMs = GRACE_MS): Promise<SkuDriftReport> => (await reconcileSku(source, sku, graceMs))!;
const kinds = (report: SkuDriftReport) => report.findings.map((f) => f.kind).sort();
const findingOf = (report: SkuDriftReport, kind: string) => report.findings.find((f) => f.kind === kind);

describe('reconcile: drift and orphans between Redis and MySQL', () => {
  it('reports a clean sale with every figure in step, drift 0 and no finding (else it cries wolf on a healthy sale)', async () => {
    const { sku } = await cleanSale('rc-clean');
    const report = await check(sku, 0);
    expect(report).toEqual({
      sku,
      redisStock: 8,
      inFlight: 0,
      inTransfer: 0,
      mysqlStock: 8,
      liveOrders: 2,
      liveUnits: 2,
      initialStock: 10,
      drift: 0,
      findings: [],
    });
  });

  it('counts a reservation still within the grace period as in flight, not as stuck (else every live sale reports orphans)', async () => {
    const { sku } = await cleanSale('rc-inflight');
    await reserve(sku, ['u3']);
    const report = await check(sku, GRACE_MS);
    expect(report).toMatchObject({ redisStock: 7, inFlight: 1, mysqlStock: 8, drift: 0, findings: [] });
  });

  it('names a reservation with no order in MySQL once the grace period has passed (else a lost order goes unnoticed)', async () => {
    const { sku } = await cleanSale('rc-stuck');
    const [stuck] = await reserve(sku, ['u3']);
    expect((await check(sku, GRACE_MS)).findings).toEqual([]);

    const report = await check(sku, 0);
    expect(kinds(report)).toEqual(['RESERVATION_WITHOUT_ORDER']);
    expect(findingOf(report, 'RESERVATION_WITHOUT_ORDER')).toMatchObject({ count: 1, ids: [stuck] });
    expect(report.drift).toBe(0);

    // The same through the pure function, with the clock moved past the grace period.
    const input = (await readDriftInput(source, sku))!;
    const createdAt = (await reservations.get(sku, stuck))!.createdAt;
    expect(findDrift(input, createdAt + GRACE_MS - 1, GRACE_MS).findings).toEqual([]);
    expect(findDrift(input, createdAt + GRACE_MS, GRACE_MS).findings.map((f) => f.ids)).toEqual([[stuck]]);
  });

  it('names an order in MySQL whose reservation was never marked persisted (else its unit is counted twice in the drift, unexplained)', async () => {
    const sku = uniqueSku('rc-unmarked');
    await preloadSku(redis, { sku, stock: 10 });
    const [unmarked] = await reserve(sku, ['u1']);
    await persist(sku, [unmarked], false);
    const report = await check(sku, 0);
    expect(kinds(report)).toEqual(['DRIFT', 'ORDER_NOT_MARKED_PERSISTED']);
    expect(findingOf(report, 'ORDER_NOT_MARKED_PERSISTED')!.ids).toEqual([unmarked]);
    expect(report).toMatchObject({ redisStock: 9, inFlight: 1, mysqlStock: 9, drift: 1 });
  });

  it('names a reservation marked persisted whose order is not in MySQL (else an order deleted from the record goes unnoticed)', async () => {
    const { sku, orderIds } = await cleanSale('rc-persisted');
    await mysql.query('DELETE FROM orders WHERE order_id = ?', [orderIds[0]]);
    const report = await check(sku);
    expect(kinds(report)).toEqual(['PERSISTED_WITHOUT_ORDER', 'STOCK_NOT_CONSERVED']);
    expect(findingOf(report, 'PERSISTED_WITHOUT_ORDER')).toMatchObject({ count: 1, ids: [orderIds[0]] });
  });

  it('names an order in MySQL that Redis has no reservation for (else orders Redis forgot after a restart go unnoticed)', async () => {
    const { sku } = await cleanSale('rc-unknown');
    const ghost = `${sku}.ghostorder00000001`;
    await mysql.query(
      `INSERT INTO orders (order_id, sku, user_id, qty, request_id, status, created_at, pay_deadline) VALUES (?, ?, 'u9', 1, '', 'PENDING', NOW(3), NOW(3))`,
      [ghost, sku],
    );
    const report = await check(sku);
    expect(kinds(report)).toEqual(['ORDER_UNKNOWN_TO_REDIS', 'STOCK_NOT_CONSERVED']);
    expect(findingOf(report, 'ORDER_UNKNOWN_TO_REDIS')).toMatchObject({ count: 1, ids: [ghost] });
    expect(report).toMatchObject({ liveOrders: 3, liveUnits: 3 });
  });

  it('names a holding whose order is cancelled or whose reservation is gone (else that user is locked out of the sale)', async () => {
    const { sku, orderIds } = await cleanSale('rc-holding');
    const [cancelled] = orderIds;
    // Cancelled and released properly, then the holding put back by hand.
    await mysql.query(`UPDATE orders SET status = 'CANCELLED', cancelled_at = NOW(3) WHERE order_id = ?`, [cancelled]);
    await mysql.query('UPDATE inventory SET stock = stock + 1 WHERE sku = ?', [sku]);
    expect((await reservations.release(sku, cancelled, 'TEST')).outcome).toBe('RELEASED');
    await redis.hset(skuKeys(sku).holders, 'u1', `${cancelled}:1`, 'u7', `${sku}.nosuchreservation01:1`);

    const report = await check(sku);
    expect(kinds(report)).toEqual(['HOLDING_WITHOUT_LIVE_ORDER']);
    expect(findingOf(report, 'HOLDING_WITHOUT_LIVE_ORDER')).toMatchObject({ count: 2 });
    expect(findingOf(report, 'HOLDING_WITHOUT_LIVE_ORDER')!.ids.sort()).toEqual([`u1/${cancelled}`, `u7/${sku}.nosuchreservation01`]);
    expect(report).toMatchObject({ redisStock: 9, mysqlStock: 9, liveOrders: 1, drift: 0 });
  });

  it('names a cancelled order whose units never went back on sale in Redis (else cancelled stock stays unsellable)', async () => {
    const { sku, orderIds } = await cleanSale('rc-cancelled');
    const [cancelled] = orderIds;
    // The sweeper's first step (MySQL) without its second (release.lua).
    await mysql.query(`UPDATE orders SET status = 'CANCELLED', cancelled_at = NOW(3) WHERE order_id = ?`, [cancelled]);
    await mysql.query('UPDATE inventory SET stock = stock + 1 WHERE sku = ?', [sku]);

    const report = await check(sku);
    expect(kinds(report)).toEqual(['CANCELLED_NOT_RELEASED', 'DRIFT', 'HOLDING_WITHOUT_LIVE_ORDER']);
    expect(findingOf(report, 'CANCELLED_NOT_RELEASED')).toMatchObject({ count: 1, ids: [cancelled] });
    expect(findingOf(report, 'HOLDING_WITHOUT_LIVE_ORDER')!.ids).toEqual([`u1/${cancelled}`]);
    expect(report.drift).toBe(-1);
  });

  it('reports the drift when Redis stock was changed by hand (else Redis could sell units MySQL does not have)', async () => {
    const { sku } = await cleanSale('rc-redis-stock');
    await redis.incrby(skuKeys(sku).stock, 3);
    const report = await check(sku);
    expect(kinds(report)).toEqual(['DRIFT']);
    expect(findingOf(report, 'DRIFT')).toMatchObject({ count: 3, ids: [] });
    expect(report).toMatchObject({ redisStock: 11, inFlight: 0, mysqlStock: 8, drift: 3 });
  });

  it('reports stock not conserved when MySQL stock was changed by hand (else units vanish from the record unnoticed)', async () => {
    const { sku } = await cleanSale('rc-mysql-stock');
    await mysql.query('UPDATE inventory SET stock = stock - 2 WHERE sku = ?', [sku]);
    const report = await check(sku);
    expect(kinds(report)).toEqual(['DRIFT', 'STOCK_NOT_CONSERVED']);
    expect(findingOf(report, 'STOCK_NOT_CONSERVED')).toMatchObject({ count: 2 });
    expect(report).toMatchObject({ mysqlStock: 6, liveUnits: 2, initialStock: 10, drift: 2 });
  });

  it('reports a SKU that only one store has, with the orders Redis lost (else a Redis restart without persistence goes unnoticed)', async () => {
    const { sku, orderIds } = await cleanSale('rc-no-redis');
    await redis.del(...allSkuKeys(sku));
    await redis.srem(SKU_INDEX_KEY, sku);
    const lost = await check(sku);
    expect(kinds(lost)).toEqual(['ORDER_UNKNOWN_TO_REDIS', 'SKU_NOT_IN_REDIS']);
    expect(findingOf(lost, 'ORDER_UNKNOWN_TO_REDIS')!.ids.sort()).toEqual([...orderIds].sort());
    expect(lost).toMatchObject({ redisStock: null, inFlight: null, mysqlStock: 8, drift: null });
    expect(await knownSkus(source)).toContain(sku);

    const redisOnly = uniqueSku('rc-no-mysql');
    await loadSkuIntoRedis(redis, { sku: redisOnly, stock: 5, limit: 1, startsAt: null, endsAt: null });
    const orphan = await check(redisOnly);
    expect(kinds(orphan)).toEqual(['SKU_NOT_IN_MYSQL']);
    expect(orphan).toMatchObject({ redisStock: 5, mysqlStock: null, initialStock: 5, drift: null });
    expect(await knownSkus(source)).toContain(redisOnly);

    expect(await reconcileSku(source, uniqueSku('rc-nowhere'), GRACE_MS)).toBeNull();
  });

  it('lists at most MAX_IDS ids per finding but counts them all (else a big incident floods the report or hides its size)', () => {
    const orders = Array.from({ length: 25 }, (_, i) => ({ orderId: `o-${i}`, userId: `u${i}`, qty: 1, status: 'PENDING' as const, reason: null }));
    const state: SkuState = { sku: 'pure', initialStock: 100, limit: 1, mysqlStock: 75, redisStock: 75, orders, reservations: [] };
    const report = findDrift({ state, inRedis: true, inMysql: true, closed: false, holdings: [] }, 0, GRACE_MS);
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({ kind: 'ORDER_UNKNOWN_TO_REDIS', count: 25 });
    expect(report.findings[0].ids).toHaveLength(MAX_IDS);
    expect(report.drift).toBe(0);
  });
});

// --- the command --------------------------------------------------------------

const cliEnv = { ...process.env, REDIS_URL: connections.redisUrl, MYSQL_URL: connections.mysqlUrl };

const seckill = (...args: string[]) => runSeckill(args);

describe('seckill reconcile', () => {
  it('exits 0 with an empty finding list on a clean SKU, and 1 naming the finding on a doctored one (else scripts cannot trust its exit code)', async () => {
    const { sku } = await cleanSale('rc-cli');
    const clean = await seckill('reconcile', '--sku', sku, '--json');
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout)).toEqual({
      ok: true,
      skus: [{ sku, redisStock: 8, inFlight: 0, inTransfer: 0, mysqlStock: 8, liveOrders: 2, liveUnits: 2, initialStock: 10, drift: 0, findings: [] }],
    });

    const [stuck] = await reserve(sku, ['u3']);
    await redis.incrby(skuKeys(sku).stock, 2);
    const doctored = await seckill('reconcile', '--sku', sku, '--json', '--grace', '0');
    expect(doctored.code).toBe(1);
    const report = JSON.parse(doctored.stdout) as ReconcileReport;
    expect(report.ok).toBe(false);
    expect(report.skus[0].drift).toBe(2);
    expect(report.skus[0].findings).toEqual([
      expect.objectContaining({ kind: 'RESERVATION_WITHOUT_ORDER', count: 1, ids: [stuck] }),
      expect.objectContaining({ kind: 'DRIFT', count: 2, ids: [] }),
    ]);

    const table = await seckill('reconcile', '--sku', sku, '--grace', '0');
    expect(table.code).toBe(1);
    expect(table.stdout).toContain('RESERVATION_WITHOUT_ORDER');
    expect(table.stdout).toContain(stuck);
    expect(table.stdout).toContain('2 finding(s) in 1 of 1 SKU(s)');
  });

  // Each case is a CLI process of its own, the cost of which is starting node: run side by side.
  it.concurrent.for([
    [['reconcile', '--sku', 'x{y}'], '--sku must match'],
    [['reconcile', '--sku', 't-reconcile-nowhere-0'], 'is neither in Redis nor in MySQL'],
    [['reconcile', '--grace', '-1'], '--grace must be a whole number'],
    [['reconcile', '--watch', '0'], '--watch must be a whole number'],
    [['reconcile', '--redis-url', 'http://x'], 'REDIS_URL must start with redis:'],
  ] as const)('refuses %j with a message and exit code 2 (else a typo looks like a clean sale)', async ([args, message], { expect }) => {
    const run = await seckill(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it('with --watch prints one JSON report per round until SIGTERM, then exits 0 (else it cannot be left running as a monitor)', async () => {
    const { sku } = await cleanSale('rc-watch');
    await redis.incrby(skuKeys(sku).stock, 1);
    const child = spawn(process.execPath, ['bin/seckill', 'reconcile', '--sku', sku, '--json', '--watch', '1'], { env: cliEnv });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => stdout.split('\n').filter(Boolean).length >= 2, 15_000, 'two watch rounds');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const rounds = stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ReconcileReport);
    expect(rounds.length).toBeGreaterThanOrEqual(2);
    for (const round of rounds) expect(round).toMatchObject({ ok: false, skus: [{ sku, drift: 1, findings: [{ kind: 'DRIFT' }] }] });
  });
});

/** What `seckill reconcile --sku S --fix --grace G` does, in process. */
const fix = async (sku: string, graceMs = GRACE_MS) => {
  const input = (await readDriftInput(source, sku))!;
  const plan = planFixes(input, await reservations.queued(sku), Date.now(), graceMs);
  await applyFixes(source, reservations, sku, plan);
  return plan;
};

const fixedTwice = async (sku: string, graceMs = GRACE_MS) => {
  const first = await fix(sku, graceMs);
  const after = await snapshotSku(redis, sku);
  const second = await fix(sku, graceMs);
  expect(planIsEmpty(second)).toBe(true);
  expect(await snapshotSku(redis, sku)).toEqual(after);
  return first;
};

describe('reconcile --fix', () => {
  it('marks an order MySQL holds as persisted, and a second run changes nothing (else its unit stays counted twice)', async () => {
    const sku = uniqueSku('fix-mark');
    await preloadSku(redis, { sku, stock: 10 });
    const [orderId] = await reserve(sku, ['u1']);
    await persist(sku, [orderId], false);
    expect((await fixedTwice(sku, 0)).markPersisted).toEqual([orderId]);
    expect((await check(sku, 0)).findings).toEqual([]);
  });

  it('puts the units of a cancelled order back on sale in Redis once, and the user may buy again (else cancelled stock stays unsellable)', async () => {
    const { sku, orderIds } = await cleanSale('fix-release');
    // As a sweeper that died between MySQL and Redis leaves it.
    await mysql.query(`UPDATE orders SET status = 'CANCELLED', reason = 'PAYMENT_TIMEOUT', cancelled_at = NOW(3) WHERE order_id = ?`, [orderIds[0]]);
    await mysql.query('UPDATE inventory SET stock = stock + 1 WHERE sku = ?', [sku]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('8');
    expect((await fixedTwice(sku)).release.map((r) => r.orderId)).toEqual([orderIds[0]]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('9');
    expect(await redis.hexists(skuKeys(sku).holders, 'u1')).toBe(0);
    expect((await check(sku)).findings).toEqual([]);
    expect((await reservations.reserve({ sku, userId: 'u1', qty: 1 })).outcome).toBe('OK');
  });

  it('never puts more units on sale than MySQL has: a cancelled order whose units MySQL did not take back is not released', async () => {
    const { sku, orderIds } = await cleanSale('fix-no-create');
    await mysql.query(`UPDATE orders SET status = 'CANCELLED', reason = 'BROKEN' WHERE order_id = ?`, [orderIds[0]]);
    const plan = await fixedTwice(sku);
    expect(plan.release).toEqual([]);
    expect(plan.refused).toEqual([orderIds[0]]);
    expect(await redis.get(skuKeys(sku).stock)).toBe('8');
  });

  it('hands a stuck reservation to the pipeline again, once (else an order with no outbox entry is never written)', async () => {
    const sku = uniqueSku('fix-redrive');
    await preloadSku(redis, { sku, stock: 10 });
    const [orderId] = await reserve(sku, ['u1']);
    await redis.del(skuKeys(sku).outbox); // its entry was lost
    expect((await fixedTwice(sku, 0)).redrive).toEqual([orderId]);
    expect((await outboxEvents(redis, sku)).map((e) => e.orderId)).toEqual([orderId]);
  });

  it('clears a holding whose reservation was released, so the user can buy again', async () => {
    const sku = uniqueSku('fix-holding');
    await preloadSku(redis, { sku, stock: 10 });
    const [orderId] = await reserve(sku, ['u1']);
    await reservations.release(sku, orderId, 'TEST');
    await redis.hset(skuKeys(sku).holders, 'u1', `${orderId}:1`);
    expect((await fixedTwice(sku)).clearHoldings).toEqual([{ userId: 'u1', orderId }]);
    expect(await redis.hexists(skuKeys(sku).holders, 'u1')).toBe(0);
  });

  it('via the CLI reports what it fixed, then a clean SKU, exit 0', async () => {
    const sku = uniqueSku('fix-cli');
    await preloadSku(redis, { sku, stock: 10 });
    const [orderId] = await reserve(sku, ['u1']);
    await persist(sku, [orderId], false);
    const { code, report } = await reconcileCli('--sku', sku, '--grace', '0', '--fix');
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.fixed).toMatchObject([{ sku, markPersisted: [orderId] }]);
  });
});

/** `seckill reconcile --json`: its exit code and the report it printed (a run that printed none fails the test here, saying why). */
const reconcileCli = async (...args: string[]) => {
  const run = await runSeckill(['reconcile', '--json', ...args]);
  if (!run.stdout) return expect.fail(`reconcile printed no report (exit ${run.code}): ${run.stderr}`);
  return { code: run.code, report: JSON.parse(run.stdout) as ReconcileReport, stderr: run.stderr };
};
const freshPrefix = () => `t-reconcile-${Date.now()}.`;

describe('reconcile --fix, reset from MySQL', () => {
  it('refuses to sell while a SKU is frozen, and sells again once thawed', async () => {
    const sku = uniqueSku('frozen');
    await preloadSku(redis, { sku, stock: 3 });
    await freezeSku(redis, sku);
    expect((await reservations.reserve({ sku, userId: 'u1', qty: 1 })).outcome).toBe('FROZEN');
    expect(await redis.get(skuKeys(sku).stock)).toBe('3');
    await thawSku(redis, sku);
    expect((await reservations.reserve({ sku, userId: 'u1', qty: 1 })).outcome).toBe('OK');
  });

  it('rebuilds a SKU Redis lost (a restart without persistence) from MySQL: stock, holdings and orders, and sells exactly what is left', async () => {
    const { sku, orderIds } = await cleanSale('lost-redis');
    await redis.del(...allSkuKeys(sku));
    const before = await reconcileCli('--sku', sku);
    expect(before.code).toBe(1);
    expect(before.report.skus[0].findings.map((f) => f.kind)).toEqual(expect.arrayContaining(['SKU_NOT_IN_REDIS']));

    const fixed = await reconcileCli('--sku', sku, '--fix', '--topic-prefix', freshPrefix());
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.report.fixed?.[0].reset).toMatchObject({ reset: true, from: null, to: 8 });
    expect(await redis.get(skuKeys(sku).stock)).toBe('8');
    expect(await redis.hget(skuKeys(sku).holders, 'u1')).toBe(`${orderIds[0]}:1`);
    expect((await reservations.reserve({ sku, userId: 'u1', qty: 1 })).outcome).toBe('LIMIT');
    expect(await reservations.get(sku, orderIds[0])).toMatchObject({ userId: 'u1' });
    // A second --fix finds nothing to do.
    const again = await reconcileCli('--sku', sku, '--fix', '--topic-prefix', freshPrefix());
    expect(again.report.fixed).toEqual([]);
  });

  it("keeps what buyers were told through a rebuild of a SKU Redis lost: a retry of a live or cancelled order's request id is answered DUPLICATE with its order id (else the buyer is told LIMIT, or sold a second unit)", async () => {
    const sku = uniqueSku('lost-requests');
    await preloadSku(redis, { sku, stock: 10 });
    const told = await reserveTold(sku, ['u1', 'u2', 'u3']);
    await persist(
      sku,
      told.map((t) => t.orderId),
    );
    // u2 did not pay: reserve.lua answers a retry of its request id DUPLICATE all the same, before the loss as after it.
    await cancelUnpaid(sku, told[1].orderId);
    await redis.del(...allSkuKeys(sku));
    await redis.srem(SKU_INDEX_KEY, sku);

    const fixed = await reconcileCli('--sku', sku, '--fix', '--topic-prefix', freshPrefix());
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.report.fixed?.[0].reset).toMatchObject({ reset: true, from: null, to: 8 });
    for (const { userId, requestId, orderId } of told) {
      expect(await reservations.reserve({ sku, userId, qty: 1, requestId }), `${userId}'s retry`).toEqual({ outcome: 'DUPLICATE', orderId, remaining: null });
    }
    expect(await redis.get(skuKeys(sku).stock)).toBe('8');
    // The cancelled order gave u2 its allowance back: a new request buys.
    expect((await reservations.reserve({ sku, userId: 'u2', qty: 1, requestId: 'r-u2-again' })).outcome).toBe('OK');
    const again = await reconcileCli('--sku', sku, '--fix', '--topic-prefix', freshPrefix());
    expect(again.report.fixed).toEqual([]);
  });

  it("restores a bucketed SKU's request ids in the bucket each order was made in (else a retry, which goes to its buyer's bucket, is not recognised)", async () => {
    const sku = uniqueSku('lost-requests-buckets');
    const buckets = 4;
    await preloadSku(redis, { sku, stock: 40, buckets });
    const told = await reserveTold(sku, ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8'], buckets);
    expect(new Set(told.map((t) => bucketOfOrderId(t.orderId))).size).toBeGreaterThan(1);
    await persist(
      sku,
      told.map((t) => t.orderId),
    );
    const cancelled = told.find((t) => bucketOfOrderId(t.orderId) !== 0)!;
    await cancelUnpaid(sku, cancelled.orderId);
    for (const b of bucketIndexes(buckets)) await redis.del(...allSkuKeys(sku, b));
    await redis.srem(SKU_INDEX_KEY, sku);

    const fixed = await reconcileCli('--sku', sku, '--fix', '--topic-prefix', freshPrefix());
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.report.fixed?.[0].reset).toMatchObject({ reset: true, from: null, to: 33 });
    for (const { userId, requestId, orderId } of told) {
      const bucket = bucketOfUser(userId, buckets);
      expect(bucket).toBe(bucketOfOrderId(orderId));
      const retry = await reservations.reserve({ sku, userId, qty: 1, requestId }, Date.now(), null, bucket);
      expect(retry, `${userId}'s retry in bucket ${bucket}`).toEqual({ outcome: 'DUPLICATE', orderId, remaining: null });
    }
  });

  it('resets Redis stock that drifted above MySQL down to it, never above', async () => {
    const { sku } = await cleanSale('drift-up');
    await redis.incrby(skuKeys(sku).stock, 5);
    const fixed = await reconcileCli('--sku', sku, '--fix', '--topic-prefix', freshPrefix());
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.report.fixed?.[0].reset).toMatchObject({ reset: true, from: 13, to: 8 });
    expect(Number(await redis.get(skuKeys(sku).stock))).toBeLessThanOrEqual((await getInventory(mysql, sku))!.stock);
  });

  it('does not reset while a reservation is in flight: it waits, gives up, and thaws the SKU as it was', async () => {
    const sku = uniqueSku('in-flight');
    await preloadSku(redis, { sku, stock: 10 });
    await reserve(sku, ['u1']); // reserved, never written to MySQL
    await redis.incrby(skuKeys(sku).stock, 1); // and some drift
    const fixed = await reconcileCli('--sku', sku, '--fix', '--freeze-timeout', '1', '--topic-prefix', freshPrefix());
    expect(fixed.code).toBe(1);
    expect(fixed.report.fixed?.[0].reset?.reset).toBe(false);
    expect(fixed.report.fixed?.[0].reset?.reason).toContain('still in flight');
    expect(await redis.get(skuKeys(sku).stock)).toBe('10');
    expect(await redis.hexists(skuKeys(sku).meta, 'frozen')).toBe(0);
  });
});
