import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localBroker, type BrokerControl } from '../../src/bench/faults/targets.js';
import { SKU_INDEX_KEY } from '../../src/redis/keys.js';
import { newRedis, preloadSku, startSeckill, startServer, uniqueSku, waitFor, type RunningProcess } from '../helpers.js';
import { startOwnBroker, type OwnBroker } from '../own-broker.js';
import { buyMany, closeStats, mysqlStock, ordersOf, redisStock } from './pipeline-helpers.js';

/**
 * The pipeline across a Kafka restart (a broker of the test's own, stopped
 * and started as `seckill bench`'s stop-kafka fault does): what was reserved
 * while the broker was down, and what is reserved after, reaches MySQL once,
 * without anything being restarted by hand.
 */

const redis = newRedis();
const running: RunningProcess[] = [];
const track = <T extends RunningProcess>(p: T): T => {
  running.push(p);
  return p;
};
let own: OwnBroker;
let broker: BrokerControl;

beforeAll(async () => {
  own = await startOwnBroker('restart-test');
  broker = (await localBroker(own.brokers, { ...process.env, SECKILL_KAFKA_DIR: own.dir }))!;
}, 120_000);
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await broker.start(); // a failed test must not leave the broker down for the next
});
afterAll(() => Promise.all([redis.quit(), closeStats(), own.remove()]), 60_000);

const prefixArgs = () => ['--topic-prefix', `t${randomBytes(3).toString('hex')}.`, '--claim-after', '500', '--session-timeout', '6000'];
const start = (command: string, args: string[]) => startSeckill(command, args, { KAFKA_BROKERS: own.brokers });

/** A fresh sale of 100 units, its server, and a relay and a consumer of their own topics. */
const saleWithPipeline = async (label: string) => {
  await redis.del(SKU_INDEX_KEY);
  const sku = uniqueSku(label);
  await preloadSku(redis, { sku, stock: 100 });
  const server = track(await startServer());
  const args = prefixArgs();
  const relay = await start('relay', args);
  track(await start('consume', args));
  return { sku, server, args, relay };
};

const expectAllPersisted = async (sku: string, answers: { status: number; orderId: string | null }[], stock: number) => {
  const sold = answers.filter((a) => a.status === 201).map((a) => a.orderId);
  await waitFor(async () => (await ordersOf(sku)).length === sold.length, 90_000, `${sold.length} orders in MySQL`);
  expect((await ordersOf(sku)).map((o) => o.order_id).sort()).toEqual([...sold].sort());
  expect(await mysqlStock(sku)).toBe(stock - sold.length);
  expect(await redisStock(sku)).toBe(stock - sold.length);
};

describe('the pipeline across a Kafka restart', () => {
  it('delivers what a relay read while the broker was down (its first send failed to connect) once the broker is back', async () => {
    // Started with the broker up, before any order: the relay has not connected its producer yet.
    const { sku, server, relay } = await saleWithPipeline('kafka-restart');
    track(relay);

    await broker.stop();
    const during = await buyMany(server.url, sku, 20, 5, 'during');
    await waitFor(() => relay.stderr().includes('outbox'), 30_000, 'the relay to fail its first send');
    await broker.start();
    const after = await buyMany(server.url, sku, 20, 5, 'after');

    await expectAllPersisted(sku, [...during, ...after], 100);
  }, 180_000);

  it('lets a relay and a consumer started while the broker is down wait for it, then deliver (seed 21: a relay killed and restarted during the outage)', async () => {
    const { sku, server, args, relay: first } = await saleWithPipeline('kafka-down-start');
    const before = await buyMany(server.url, sku, 10, 5, 'before');

    await broker.stop();
    const during = await buyMany(server.url, sku, 20, 5, 'during');
    await first.stop('SIGKILL');
    // A supervisor starts it again while Kafka is still down: it must wait, not exit.
    const starting = start('relay', [...args, '--wait', '120']).then(track);
    const consumerStarting = start('consume', [...args, '--wait', '120']).then(track);
    await broker.start();
    await Promise.all([starting, consumerStarting]);

    await expectAllPersisted(sku, [...before, ...during], 100);
  }, 240_000);
});
