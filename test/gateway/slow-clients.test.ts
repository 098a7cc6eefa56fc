import { connect, type Socket } from 'node:net';
import type { RedisClient as Redis } from '../../src/redis/connection.js';
import { afterAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import { metricValue, newRedis, postJson, preloadSku, type RunningServer, scrapeMetrics, startServer, testMysql, uniqueSku, waitFor } from '../helpers.js';

/**
 * A crowd of bots can hold a server's sockets by sending a request slowly:
 * headers a byte at a time, or a body promised and never sent. `serve
 * --request-timeout` bounds how long a request may take to arrive; this
 * proves it against a real server process.
 */

const redis: Redis = newRedis();
let server: RunningServer | undefined;
const stalled: Socket[] = [];

afterAll(async () => {
  for (const socket of stalled) socket.destroy();
  await server?.stop();
  redis.disconnect();
  await (await testMysql()).end();
});

/** Opens a connection and sends `head` only: the rest of the request never comes. */
const stall = (url: string, head: string): Promise<{ socket: Socket; closed: Promise<void> }> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {}); // the server cutting it is the point
    socket.on('data', () => {}); // whatever it answers is not read by a stalled client
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('connect', () => {
      socket.write(head);
      resolve({ socket, closed });
    });
    socket.once('error', reject);
  });

describe('seckill serve against slow clients', () => {
  it('cuts 2,000 connections that stall half-way (headers or body), counts them, and answers honest buyers meanwhile', async () => {
    server = await startServer(['--request-timeout', '2000']);
    const { sku } = await preloadSku(redis, { sku: uniqueSku('slow'), stock: 50 });

    const heads = [
      'POST /reserve HTTP/1.1\r\nHost: seckill\r\nContent-Le', // headers cut in the middle
      `POST /reserve HTTP/1.1\r\nHost: seckill\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sku":"${sku}"`, // a body promised, 16 bytes sent
    ];
    const opened = [];
    for (let i = 0; i < 2_000; i += 100) opened.push(...(await Promise.all(Array.from({ length: 100 }, (_, j) => stall(server!.url, heads[(i + j) % 2])))));
    stalled.push(...opened.map((o) => o.socket));

    // Honest buyers, while all 2,000 are held open: every one answered.
    const honest = await Promise.all(Array.from({ length: 100 }, (_, i) => postJson(`${server!.url}/reserve`, { sku, userId: `honest-${i}` })));
    expect(honest.filter((a) => a.status === 201)).toHaveLength(50);
    expect(honest.filter((a) => a.status === 410)).toHaveLength(50);

    // Node's own defaults would hold them 60 s (headers) and 5 minutes (body).
    let closed = 0;
    for (const o of opened) void o.closed.then(() => (closed += 1));
    await waitFor(() => closed === 2_000, 30_000, 'the server to cut every stalled connection');
    const metrics = await scrapeMetrics(server.url);
    expect(metricValue(metrics, 'seckill_http_clients_cut_total{reason="timeout"}')).toBe(2_000);
    // A buy whose body was cut is not an answer: nothing was reserved for it.
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(50);
  });
});
