import { describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import type { DeadLetter } from '../../src/queue/dead-letter.js';
import { connectKafka } from '../../src/queue/kafka.js';
import { GROUPS, TOPICS } from '../../src/queue/names.js';
import { Reservations } from '../../src/sale/reservations.js';
import type { OrderColumns, Row } from '../../src/store/rows.js';
import { postJson, preloadSku, sendHttp, startMysqlProxy, startSeckill, startServer, testMysql, uniqueSku, waitFor } from '../helpers.js';
import { TEST_DEFAULTS } from '../test-env.js';

const TEST_KAFKA = TEST_DEFAULTS.KAFKA_BROKERS;
import { buyMany, mysqlStock, ordersOf, pipelineTestKit, redisStock, startPipeline } from './pipeline-helpers.js';

const { redis, prefix, track, expectOrdersMatchAnswers } = pipelineTestKit();

describe.each(['kafka', 'redis'] as const)('several consumers sharing the work, --queue %s', (queue) => {
  it('delivers every order exactly once while consumers come and go: one dies after a commit, one is killed mid-drain', async () => {
    // Six SKUs, so the orders spread over the topic's partitions (key = SKU) or over six outbox streams.
    const skus = Array.from({ length: 6 }, (_, i) => uniqueSku(`share-${queue}-${i}`));
    for (const sku of skus) await preloadSku(redis, { sku, stock: 150 });
    const server = track(await startServer());
    const p = prefix();
    const common = ['--queue', queue, '--topic-prefix', p, '--claim-after', '500', '--session-timeout', '6000', '--batch-size', '20', '--partitions', '6'];
    if (queue === 'kafka') track(await startSeckill('relay', common));
    // The first consumer, ready before any order exists, dies right after its first MySQL commit, before its offset (or ack) is committed…
    const dying = track(await startSeckill('consume', common, { SECKILL_CRASH_AT: 'consumer:after-commit' }));
    const answers = (await Promise.all(skus.map((sku) => buyMany(server.url, sku, 150, 25, `${sku}-u`)))).flat();
    expect(answers.filter((a) => a.status === 201)).toHaveLength(900);
    expect(await dying.exited).toBe(null);
    expect(dying.stderr()).toContain('SECKILL_CRASH_AT=consumer:after-commit');
    const total = async () => (await Promise.all(skus.map(ordersOf))).flat();
    expect((await total()).length).toBeGreaterThan(0);
    // …another takes over its partitions (or claims its entries) and is killed mid-drain; a third joins and finishes.
    const killed = track(await startSeckill('consume', common));
    await waitFor(async () => (await total()).length > 300, 30_000, 'orders after the takeover');
    await killed.stop('SIGKILL');
    track(await startSeckill('consume', common));
    await waitFor(async () => (await total()).length === 900, 90_000, 'all 900 orders');

    const orders = await total();
    expect(new Set(orders.map((o) => o.order_id)).size).toBe(900);
    expect(orders.filter((o) => o.status !== 'PENDING')).toEqual([]);
    expect(orders.map((o) => o.order_id).sort()).toEqual(answers.flatMap((a) => (a.status === 201 ? [a.orderId] : [])).sort());
    for (const sku of skus) expect(await mysqlStock(sku)).toBe(0);
  }, 150_000);
});

/** A Kafka client of the test's own on the topics of a prefix. */
const testKafka = (clientId: string, topicPrefix: string) =>
  connectKafka({ clientId, brokers: [TEST_KAFKA], partitions: 3, replicationFactor: 1, topicPrefix, sessionTimeoutMs: 6_000, concurrency: 1, lingerMs: 0 });

/** Produces raw messages to the orders topic of a prefix, as a broken or repeating producer would. */
const produce = async (topicPrefix: string, messages: { key: string; value: string }[]) => {
  const kafka = await testKafka('test-producer', topicPrefix);
  await kafka.publish(TOPICS.orders, messages);
  await kafka.close();
};

/** Reads the dead-letter topic of a prefix until `count` letters came (and `more` holds, if given); the letters. */
const readDeadLetters = async (
  topicPrefix: string,
  group: string,
  count: number,
  more?: (kafka: Awaited<ReturnType<typeof testKafka>>) => Promise<boolean>,
) => {
  const letters: DeadLetter[] = [];
  const kafka = await testKafka(group, topicPrefix);
  try {
    await kafka.subscribe(TOPICS.deadLetters, group, (batch) => {
      letters.push(...batch.values.map((v) => JSON.parse(v) as DeadLetter));
      return Promise.resolve();
    });
    await waitFor(() => letters.length >= count, 30_000, `${count} dead letters`);
    if (more) await waitFor(() => more(kafka), 30_000, 'the dead letters read');
  } finally {
    await kafka.close();
  }
  return letters;
};

/** The outbox event of an order, as reserve.lua wrote it. */
const eventOf = async (sku: string, orderId: string) => (await redis.hget(skuKeys(sku).reservations, orderId))!;

describe('exactly once in effect', () => {
  it('applies an order produced twice once: one order, stock decremented once', async () => {
    const sku = uniqueSku('dup');
    await preloadSku(redis, { sku, stock: 10, limit: 2 });
    const { orderId } = await new Reservations(redis).reserve({ sku, userId: 'alice', qty: 2 });
    const p = prefix();
    const event = await eventOf(sku, orderId!);
    await produce(p, [
      { key: sku, value: event },
      { key: sku, value: event },
    ]);
    const pipeline = track(await startPipeline('kafka', p));
    await waitFor(async () => (await ordersOf(sku)).length === 1, 30_000, 'the order').catch((e: Error) => {
      throw new Error(`${e.message}\n${pipeline.processes.map((x) => x.stderr()).join('\n')}`);
    });
    // Give a doubled apply every chance to show: the same message once more, then a marker order behind it.
    const marker = await new Reservations(redis).reserve({ sku, userId: 'marker', qty: 1 });
    await produce(p, [
      { key: sku, value: event },
      { key: sku, value: await eventOf(sku, marker.orderId!) },
    ]);
    await waitFor(async () => (await ordersOf(sku)).length === 2, 30_000, 'the marker order');
    expect((await ordersOf(sku)).filter((o) => o.order_id === orderId)).toHaveLength(1);
    expect(await mysqlStock(sku)).toBe(7);
  });

  it('survives a consumer killed after its transaction and before its offset commit: one order, stock once', async () => {
    const sku = uniqueSku('crash-consumer');
    await preloadSku(redis, { sku, stock: 10 });
    const server = track(await startServer());
    const p = prefix();
    const crashing = track(await startPipeline('kafka', p, [], { SECKILL_CRASH_AT: 'consumer:after-commit' }));
    const answers = await buyMany(server.url, sku, 3, 3);
    // The consumer dies right after its first MySQL commit…
    const consumer = crashing.processes.at(-1)!;
    expect(await consumer.exited).toBe(null);
    expect(consumer.stderr()).toContain('SECKILL_CRASH_AT=consumer:after-commit');
    const committed = (await ordersOf(sku)).length;
    expect(committed).toBeGreaterThan(0);
    // …and the next one gets the same batch again, uncommitted.
    track(await startPipeline('kafka', p));
    await waitFor(async () => (await ordersOf(sku)).length === 3, 30_000, 'all 3 orders');
    await crashing.stop();
    await expectOrdersMatchAnswers(sku, answers);
    expect(await mysqlStock(sku)).toBe(7);
  });

  it.each(['relay:after-read', 'relay:after-publish'])('loses and doubles nothing when the relay dies at %s: the next relay delivers', async (crashAt) => {
    const sku = uniqueSku('crash-relay');
    await preloadSku(redis, { sku, stock: 10 });
    const server = track(await startServer());
    const p = prefix();
    const crashing = track(await startPipeline('kafka', p, [], { SECKILL_CRASH_AT: crashAt }));
    const answers = await buyMany(server.url, sku, 4, 4);
    const relay = crashing.processes[0];
    expect(await relay.exited).toBe(null); // died by its own SIGKILL
    await crashing.stop();
    track(await startPipeline('kafka', p));
    await waitFor(async () => (await ordersOf(sku)).length === 4, 30_000, 'all 4 orders');
    await expectOrdersMatchAnswers(sku, answers);
    expect(await mysqlStock(sku)).toBe(6);
    // Delivered entries are trimmed — by the next relay, which may still be acknowledging what the dead one had already published.
    await waitFor(async () => (await redis.xlen(skuKeys(sku).outbox)) === 0, 10_000, 'the outbox trimmed');
  });
});

describe('dead letters and compensation', () => {
  it('dead-letters a poison message and an order MySQL refuses; the refused unit returns to Redis once and is sold again', async () => {
    const sku = uniqueSku('dlq');
    await preloadSku(redis, { sku, stock: 2 });
    const server = track(await startServer());
    // Bob holds a live order the stock already counts, but Redis lost his holding (as after a restart without persistence).
    await (
      await testMysql()
    ).query(
      `INSERT INTO orders (order_id, sku, user_id, qty, status, created_at, pay_deadline) VALUES (?, ?, 'bob', 1, 'PENDING', NOW(3), NOW(3) + INTERVAL 1 HOUR)`,
      [`${sku}.earlierorder0000`, sku],
    );
    await (await testMysql()).query(`INSERT INTO holdings (sku, user_id, units, unit_limit) VALUES (?, 'bob', 1, 1)`, [sku]);
    await (await testMysql()).query('UPDATE inventory SET stock = stock - 1 WHERE sku = ?', [sku]);
    await redis.decr(skuKeys(sku).stock);
    const p = prefix();
    await produce(p, [
      { key: sku, value: 'not json at all' },
      { key: sku, value: JSON.stringify({ orderId: `${sku}.poisonorder0000`, sku, userId: 'eve', qty: -1, requestId: '', createdAt: 1 }) },
    ]);
    const pipeline = track(await startPipeline('kafka', p, ['--metrics-port', '0']));

    const bob = await postJson(`${server.url}/reserve`, { sku, userId: 'bob' });
    expect(bob.status).toBe(201);
    const bobOrder = bob.body.orderId as string;
    // The database refuses Bob's second unit (past his limit): dead letter, stock back in Redis, the refusal recorded as a cancelled order.
    await waitFor(async () => (await new Reservations(redis).get(sku, bobOrder))?.releasedAt !== undefined, 30_000, "Bob's order released");
    expect(await redisStock(sku)).toBe(1);
    expect((await sendHttp(`${server.url}/orders/${bobOrder}`)).body).toMatchObject({
      status: 'cancelled',
      reason: 'DEAD_LETTER:OVER_LIMIT',
    });
    const live = async () => (await ordersOf(sku)).filter((o) => o.status !== 'CANCELLED').map((o) => o.order_id);
    expect(await live()).toEqual([`${sku}.earlierorder0000`]);
    // Its units are back on sale in Redis, and MySQL says so (no sweeper need release it again).
    await waitFor(
      async () => {
        const [rows] = await (
          await testMysql()
        ).query<Row<Pick<OrderColumns, 'released_to_sale'>>[]>('SELECT released_to_sale FROM orders WHERE order_id = ?', [bobOrder]);
        return rows[0]?.released_to_sale === 1;
      },
      10_000,
      "Bob's refused order marked released",
    );

    // The unit is sold again, to one later buyer, and reaches MySQL.
    const later = await buyMany(server.url, sku, 2, 1, 'later');
    expect(later.map((a) => a.status)).toEqual([201, 410]);
    await waitFor(async () => (await live()).length === 2, 30_000, 'the resold unit in MySQL');
    expect(await mysqlStock(sku)).toBe(0);
    expect(await redisStock(sku)).toBe(0);
    expect(pipeline.processes.at(-1)!.stderr()).not.toContain('will retry');

    // The dead-letter topic holds each refused message with its reason.
    const letters = await readDeadLetters(p, 'test-dlq-reader', 3);
    expect(letters.map((l) => l.reason).sort()).toEqual(['INVALID_QTY', 'NOT_JSON', 'OVER_LIMIT']);
    expect(letters.find((l) => l.reason === 'NOT_JSON')!.raw).toBe('not json at all');
    expect(letters.find((l) => l.reason === 'OVER_LIMIT')!.event!.orderId).toBe(bobOrder);
  });
});

describe('a refusal is final', () => {
  it('stands when the consumer dies after the dead letter and before its commit, even once the user may buy again: no payable order for a unit sold twice', async () => {
    const sku = uniqueSku('final-refusal');
    await preloadSku(redis, { sku, stock: 5, limit: 1 });
    const server = track(await startServer());
    const p = prefix();
    const bobFirst = await postJson(`${server.url}/reserve`, { sku, userId: 'bob', requestId: 'r1' });
    expect(bobFirst.status).toBe(201);
    const pipeline = track(await startPipeline('kafka', p));
    await waitFor(async () => (await ordersOf(sku)).length === 1, 30_000, "Bob's first order in MySQL");
    await pipeline.stop();

    // Redis loses Bob's holding, so it sells him a second unit that MySQL (limit 1) must refuse.
    await redis.hdel(skuKeys(sku).holders, 'bob');
    const bobSecond = await postJson(`${server.url}/reserve`, { sku, userId: 'bob', requestId: 'r2' });
    expect(bobSecond.status).toBe(201);
    const crashing = track(await startPipeline('kafka', p, [], { SECKILL_CRASH_AT: 'consumer:after-dead-letter' }));
    const consumer = crashing.processes.at(-1)!;
    expect(await consumer.exited).toBe(null); // died by its own SIGKILL, the refusal's offset not committed
    await crashing.stop();

    // Meanwhile Bob's first order times out, as the payment sweeper would cancel it: his allowance and the unit come back.
    const mysql = await testMysql();
    await mysql.query(`UPDATE orders SET status = 'CANCELLED', reason = 'PAYMENT_TIMEOUT', cancelled_at = NOW(3) WHERE order_id = ?`, [bobFirst.body.orderId]);
    await mysql.query('UPDATE holdings SET units = 0 WHERE sku = ? AND user_id = ?', [sku, 'bob']);
    await mysql.query('UPDATE inventory SET stock = stock + 1 WHERE sku = ?', [sku]);

    // The next consumer gets the refused event again: it must still be no order.
    track(await startPipeline('kafka', p));
    const second = bobSecond.body.orderId as string;
    // Settled either way: released again as refused (right), or applied as a live order (the bug).
    await waitFor(
      async () =>
        (await new Reservations(redis).get(sku, second))?.releasedAt !== undefined ||
        (await ordersOf(sku)).some((o) => o.order_id === second && o.status === 'PENDING'),
      30_000,
      'the redelivered refusal to settle',
    );
    const rows = await ordersOf(sku);
    expect(rows.find((o) => o.order_id === second)).toMatchObject({ status: 'CANCELLED', reason: 'DEAD_LETTER:OVER_LIMIT' });
    expect(rows.filter((o) => o.status !== 'CANCELLED')).toEqual([]);
    // MySQL never took the refused unit: 5 on sale once the first order's unit came back.
    expect(await mysqlStock(sku)).toBe(5);
  });
});

describe('MySQL down', () => {
  it('drains the backlog once MySQL is reachable again, losing nothing and doubling nothing', async () => {
    const sku = uniqueSku('mysql-down');
    await preloadSku(redis, { sku, stock: 100 });
    const server = track(await startServer());
    const proxy = await startMysqlProxy();
    const pipeline = track(await startPipeline('kafka', prefix(), [], { MYSQL_URL: proxy.url }));
    await proxy.cut();

    const answers = await buyMany(server.url, sku, 60, 20);
    const consumer = pipeline.processes.at(-1)!;
    await waitFor(() => consumer.stderr().includes('will retry'), 30_000, 'the consumer to notice MySQL is down');
    expect(await ordersOf(sku)).toEqual([]);

    await proxy.restore();
    await waitFor(async () => (await ordersOf(sku)).length === 60, 60_000, 'the backlog to drain');
    await expectOrdersMatchAnswers(sku, answers);
    expect(await mysqlStock(sku)).toBe(40);
    expect(await redisStock(sku)).toBe(40);
  });
});

describe('payment', () => {
  it('keeps paid orders, cancels unpaid ones past the deadline once (two sweepers), and resells their stock', async () => {
    const sku = uniqueSku('pay');
    await preloadSku(redis, { sku, stock: 3 });
    const server = track(await startServer());
    const p = prefix();
    track(await startPipeline('kafka', p, ['--pay-timeout', '3', '--sweep-interval', '100']));
    // A second consumer process in the same group: two sweepers race for the same expired orders.
    track(await startSeckill('consume', ['--topic-prefix', p, '--pay-timeout', '3', '--sweep-interval', '100']));

    const answers = await buyMany(server.url, sku, 3, 3);
    const [paid, ...unpaid] = answers.map((a) => a as { userId: string; orderId: string });
    await waitFor(async () => (await ordersOf(sku)).length === 3, 30_000, 'orders in MySQL');
    const pay = await postJson(`${server.url}/orders/${paid.orderId}/pay`, { userId: paid.userId });
    expect(pay.status).toBe(200);
    expect((await postJson(`${server.url}/orders/${unpaid[0].orderId}/pay`, { userId: paid.userId })).status).toBe(403);

    await waitFor(async () => (await ordersOf(sku)).filter((o) => o.status === 'CANCELLED').length === 2, 30_000, 'unpaid orders cancelled');
    await waitFor(async () => (await redisStock(sku)) === 2, 10_000, 'stock back in Redis');
    expect(await mysqlStock(sku)).toBe(2);
    expect((await ordersOf(sku)).find((o) => o.order_id === paid.orderId)!.status).toBe('PAID');
    const late = await postJson(`${server.url}/orders/${unpaid[0].orderId}/pay`, { userId: unpaid[0].userId });
    expect(late).toMatchObject({ status: 409, body: { error: 'CANCELLED' } });

    // Resold to later buyers, and no more than returned.
    const later = await buyMany(server.url, sku, 5, 5, 'later');
    expect(later.filter((a) => a.status === 201)).toHaveLength(2);
    await waitFor(async () => (await ordersOf(sku)).length === 5, 30_000, 'resold orders in MySQL');
    expect(await mysqlStock(sku)).toBe(0);
    expect(await redisStock(sku)).toBe(0);
  });
});

describe('Redis losing the outbox', () => {
  it('goes on relaying once the stream and its consumer group are gone (a Redis restart without persistence)', async () => {
    const sku = uniqueSku('lost-group');
    await preloadSku(redis, { sku, stock: 10 });
    const server = track(await startServer());
    track(await startPipeline('kafka', prefix()));
    const first = await buyMany(server.url, sku, 2, 2, 'a');
    await waitFor(async () => (await ordersOf(sku)).length === 2, 30_000, 'the first orders');
    await redis.del(skuKeys(sku).outbox); // the stream and the relay's group with it
    const second = await buyMany(server.url, sku, 2, 2, 'b');
    // Within seconds: a relay that does not recreate the group only errs until something else does.
    await waitFor(async () => (await ordersOf(sku)).length === 4, 8_000, 'orders after the stream was lost');
    await expectOrdersMatchAnswers(sku, [...first, ...second]);
  });
});

describe('poison messages', () => {
  it('dead-letters each with its reason (also a bad line among good ones in a message of several events), moves the offsets past them, and changes stock only for the real order', async () => {
    const sku = uniqueSku('poison');
    await preloadSku(redis, { sku, stock: 5 });
    const { orderId } = await new Reservations(redis).reserve({ sku, userId: 'honest', qty: 1 });
    const real = await eventOf(sku, orderId!);
    const ghost = uniqueSku('ghost');
    const p = prefix();
    // A message carries one or more order events, one per line, as the relay bundles them.
    await produce(p, [
      { key: sku, value: ['{"truncated": ', JSON.stringify({ ...JSON.parse(real), userId: 42, orderId: `${sku}.wrongtypes00000` })].join('\n') },
      { key: ghost, value: JSON.stringify({ ...JSON.parse(real), sku: ghost, orderId: `${ghost}.unknownsku00000` }) },
      {
        key: sku,
        value: [
          JSON.stringify({ ...JSON.parse(real), qty: -3, orderId: `${sku}.negativeqty0000` }),
          real,
          JSON.stringify({ ...JSON.parse(real), userId: 'impostor' }), // the real order id, other content
        ].join('\n'),
      },
    ]);
    track(await startPipeline('kafka', p));

    const letters = await readDeadLetters(p, 'test-poison-reader', 5, async (kafka) => (await kafka.lag(TOPICS.orders, GROUPS.orders)) === 0);

    expect(letters.map((l) => l.reason).sort()).toEqual(['INVALID_QTY', 'INVALID_USER_ID', 'NOT_JSON', 'ORDER_ID_REUSED', 'UNKNOWN_SKU']);
    expect((await ordersOf(sku)).map((o) => [o.order_id, o.user_id, o.status])).toEqual([[orderId, 'honest', 'PENDING']]);
    expect(await mysqlStock(sku)).toBe(4);
    // The reused id named a live order: compensation must not release it.
    expect(await redisStock(sku)).toBe(4);
    expect((await new Reservations(redis).get(sku, orderId!))?.releasedAt).toBeUndefined();
  });
});
