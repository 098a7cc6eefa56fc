import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { OwnRedis } from '../../src/bench/servers/own-redis.js';
import { freePort } from '../../src/bench/servers/ports.js';
import { createRedis, type RedisClient } from '../../src/redis/connection.js';
import { Reservations } from '../../src/sale/reservations.js';
import { metricValue, preloadSku, scrapeMetrics, startSeckill, testMysql, uniqueSku, waitFor, type RunningProcess } from '../helpers.js';

/**
 * --linger: a sale's outbox trickles (a few reservations at a time), and a
 * consumer that reads it at once writes one tiny MySQL transaction per
 * reservation; one that lets the trickle gather writes a few larger ones. On
 * a Redis of the test's own, so no other sale's outbox is read.
 */

const running: RunningProcess[] = [];
const servers: OwnRedis[] = [];
const clients: RedisClient[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  for (const c of clients) c.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
  await (await testMysql()).end();
});

/** 20 reservations, one every 60 ms, each its own outbox entry; the MySQL transactions the consumer wrote them in. */
const trickle = async (linger: number): Promise<number> => {
  const own = await OwnRedis.start();
  servers.push(own);
  const redis = createRedis(own.url, { enableOfflineQueue: true });
  clients.push(redis);
  const { sku } = await preloadSku(redis, { sku: uniqueSku('linger'), stock: 100 });
  const port = await freePort();
  const consumer = await startSeckill('consume', ['--queue', 'redis', '--no-sweeper', '--linger', String(linger), '--metrics-port', String(port)], {
    REDIS_URL: own.url,
  });
  running.push(consumer);
  const reservations = new Reservations(redis, { groupCommit: null });
  for (let i = 0; i < 20; i++) {
    await reservations.reserve({ sku, userId: `t${i}`, qty: 1 });
    await sleep(60);
  }
  const metrics = () => scrapeMetrics(`http://127.0.0.1:${port}`);
  await waitFor(async () => metricValue(await metrics(), 'seckill_orders_persisted_total') === 20, 20_000, 'the 20 orders in MySQL');
  return metricValue(await metrics(), 'seckill_consumer_batch_size_count');
};

describe('consume --linger', () => {
  it('writes a trickle of 20 reservations over 1.2 s in a few transactions when it lingers 1.5 s, in many when it does not', async () => {
    expect(await trickle(1_500)).toBeLessThanOrEqual(6);
    expect(await trickle(0)).toBeGreaterThanOrEqual(10);
  }, 90_000);
});
