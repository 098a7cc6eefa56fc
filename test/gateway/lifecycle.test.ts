import { Agent } from 'node:http';
import { connect } from 'node:net';
import type { RedisClient as Redis } from '../../src/redis/connection.js';
import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import { Reservations } from '../../src/sale/reservations.js';
import {
  holdReserve,
  metricValue,
  newRedis,
  postJson,
  preloadSku,
  type RunningServer,
  scrapeMetrics,
  serverTracker,
  testMysql,
  uniqueSku,
  waitFor,
} from '../helpers.js';

/**
 * The life of a `seckill serve` process: how it stops, and how several
 * processes on one Redis keep their local sold-out flags in step.
 */

const redis: Redis = newRedis();
const { start, stopAll } = serverTracker();

const isRunning = (server: RunningServer) => server.process.exitCode === null && server.process.signalCode === null;

afterAll(async () => {
  // A server a failed test left running must not outlive the file.
  await stopAll('SIGKILL');
  redis.disconnect();
  await (await testMysql()).end();
});

/** True when nothing listens on the server's port any more. */
const refusesConnections = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });

describe('seckill serve on SIGTERM', () => {
  it('answers all 200 requests in flight, exits 0, and then refuses connections', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('sigterm'), stock: 500, limit: 1 });
    // A shutdown timeout far beyond the test's: every answer must come from a graceful stop, not a forced one.
    const server = await start(['--shutdown-timeout', '600000']);

    const held = Array.from({ length: 200 }, (_, i) => holdReserve(server.url, { sku, userId: `u${i}`, requestId: `r${i}` }, false));
    await Promise.all(held.map((h) => h.accepted));

    const exited = server.stop('SIGTERM');
    await waitFor(() => refusesConnections(server.url), 10_000, 'the server to stop listening after SIGTERM');

    const answers = await Promise.all(held.map((h) => h.finish()));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
    expect(new Set(answers.map((a) => a.body.orderId)).size).toBe(200);
    expect(await exited).toBe(0);
    expect(await refusesConnections(server.url)).toBe(true);

    expect(await redis.get(skuKeys(sku).stock)).toBe('300');
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(200);
  });

  it('exits once requests in flight on keep-alive connections are answered, without waiting for the shutdown timeout', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('sigterm-ka'), stock: 50, limit: 1 });
    const server = await start(['--shutdown-timeout', '600000']);
    const agents = Array.from({ length: 20 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    try {
      const held = agents.map((agent, i) => holdReserve(server.url, { sku, userId: `u${i}` }, agent));
      await Promise.all(held.map((h) => h.accepted));

      const exited = server.stop('SIGTERM');
      await waitFor(() => refusesConnections(server.url), 10_000, 'the server to stop listening after SIGTERM');
      const answers = await Promise.all(held.map((h) => h.finish()));
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));

      // The answered connections are idle now; a graceful stop closes them
      // instead of holding the process until --shutdown-timeout cuts them.
      await waitFor(() => !isRunning(server), 10_000, 'the process to exit after its last answer');
      expect(await exited).toBe(0);
    } finally {
      for (const agent of agents) agent.destroy();
    }
  });
});

describe('the local sold-out flag across server processes', () => {
  const flagged = async (server: RunningServer) => metricValue(await scrapeMetrics(server.url), 'seckill_sold_out_skus');

  it('is set in B by A selling the last unit, with no request to B, and cleared in B by release.lua so B sells the unit again', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('flag'), stock: 1, limit: 1 });
    // Flags (and a closed admission cap) trusted for 10 minutes: only pub/sub can change them during this test.
    const [a, b] = await Promise.all([start(['--sold-out-ttl', '600000']), start(['--sold-out-ttl', '600000'])]);
    expect(await flagged(b)).toBe(0);

    const sold = await postJson(`${a.url}/reserve`, { sku, userId: 'first-buyer' });
    expect(sold.status).toBe(201);
    expect(sold.body.remaining).toBe(0);

    // B has not been asked anything: only A's SOLD_OUT message can flag the SKU in B.
    await waitFor(async () => (await flagged(b)) === 1, 10_000, "B to flag the SKU from A's message");
    const refused = await postJson(`${b.url}/reserve`, { sku, userId: 'second-buyer' });
    expect({ status: refused.status, error: refused.body.error }).toEqual({ status: 410, error: 'SOLD_OUT' });

    const released = await new Reservations(redis).release(sku, sold.body.orderId as string, 'TEST');
    expect(released).toEqual({ outcome: 'RELEASED', remaining: 1 });
    // Again no request to B: release.lua's ON_SALE message clears the flag.
    await waitFor(async () => (await flagged(b)) === 0, 10_000, "B to clear the flag from release.lua's message");

    const resold = await postJson(`${b.url}/reserve`, { sku, userId: 'second-buyer' });
    expect(resold.status).toBe(201);
    expect(resold.body.remaining).toBe(0);
    expect(resold.body.orderId).not.toBe(sold.body.orderId);
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');
  });
});
