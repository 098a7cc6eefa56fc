import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../src/bench/servers/ports.js';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/connection.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skuKeys } from '../../src/redis/keys.js';
import type { SkuDefinition } from '../../src/sale/catalog.js';
import {
  expectHealthDown,
  metricValue,
  newRedis,
  postJson,
  preloadSku,
  scrapeMetrics,
  sendHttp,
  serverTracker,
  testMysql,
  uniqueSku,
  waitFor,
} from '../helpers.js';

/** Every answer of `seckill serve`, each through a real server process, real Redis and MariaDB. */

type Answer = { status: number; body: Record<string, unknown> | null };

const expectError = (answer: Answer, status: number, code: string) => {
  expect({ status: answer.status, error: answer.body?.error }).toEqual({ status, error: code });
  expect(typeof answer.body?.message).toBe('string');
  expect((answer.body!.message as string).length).toBeGreaterThan(0);
};

const redisClients: RedisClient[] = [];
const { start, stopAll } = serverTracker();

afterAll(async () => {
  await stopAll();
  for (const r of redisClients) r.disconnect();
  await (await testMysql()).end();
});

describe('seckill serve with default admission', () => {
  let redis: RedisClient;
  let url: string;

  beforeAll(async () => {
    redis = newRedis();
    redisClients.push(redis);
    url = (await start()).url;
  });

  it('answers 201 with the new orderId and the stock remaining, and reserves exactly one unit', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s201'), stock: 3 });
    const answer = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'r1' });
    expect(answer.status).toBe(201);
    expect(answer.body.remaining).toBe(2);
    expect(answer.body.orderId).toMatch(new RegExp(`^${sku}\\.`));
    expect(await redis.get(skuKeys(sku).stock)).toBe('2');
    expect(await redis.hexists(skuKeys(sku).reservations, answer.body.orderId as string)).toBe(1);
  });

  it('answers 409 LIMIT with the orderId of the first order when a user who holds one buys again', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s409limit'), stock: 5, limit: 1 });
    const first = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'first' });
    expect(first.status).toBe(201);
    const again = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'second' });
    expectError(again, 409, 'LIMIT');
    expect(again.body.orderId).toBe(first.body.orderId);
    const noRequestId = await postJson(`${url}/reserve`, { sku, userId: 'u1' });
    expectError(noRequestId, 409, 'LIMIT');
    expect(noRequestId.body.orderId).toBe(first.body.orderId);
    // Over the per-user limit in one request: LIMIT, and there is no order to point at.
    const overLimit = await postJson(`${url}/reserve`, { sku, userId: 'u2', qty: 2 });
    expectError(overLimit, 409, 'LIMIT');
    expect(overLimit.body.orderId).toBeUndefined();
    expect(await redis.get(skuKeys(sku).stock)).toBe('4');
  });

  it('answers 409 DUPLICATE with the same orderId when a request id is sent again, and sells once', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s409dup'), stock: 5, limit: 2 });
    const first = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'retry-me' });
    expect(first.status).toBe(201);
    const retry = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'retry-me' });
    expectError(retry, 409, 'DUPLICATE');
    expect(retry.body.orderId).toBe(first.body.orderId);
    expect(await redis.get(skuKeys(sku).stock)).toBe('4');
  });

  it('answers 410 SOLD_OUT once the last unit is sold, and the stock never goes below 0', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s410sold'), stock: 1 });
    const last = await postJson(`${url}/reserve`, { sku, userId: 'u1' });
    expect(last.status).toBe(201);
    expect(last.body.remaining).toBe(0);
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u2' }), 410, 'SOLD_OUT');
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u3' }), 410, 'SOLD_OUT');
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');
  });

  it('answers a retry after the sell-out with its order id (409 DUPLICATE), a user at the limit with theirs, everyone else 410', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s409last'), stock: 1 });
    const last = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'last-unit' });
    expect(last.status).toBe(201);
    expect(last.body.remaining).toBe(0);
    // The reply was lost: the buyer retries, after the sell-out, with the same request id.
    const retry = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'last-unit' });
    expectError(retry, 409, 'DUPLICATE');
    expect(retry.body.orderId).toBe(last.body.orderId);
    const again = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'another' });
    expectError(again, 409, 'LIMIT');
    expect(again.body.orderId).toBe(last.body.orderId);
    const other = await postJson(`${url}/reserve`, { sku, userId: 'u2', requestId: 'last-unit' });
    expectError(other, 410, 'SOLD_OUT');
    expect(other.body.orderId).toBeUndefined();
    const order = (await sendHttp(`${url}/orders/${last.body.orderId as string}`)).body;
    expect(order).toMatchObject({ orderId: last.body.orderId, userId: 'u1', status: 'reserved' });
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(1);
  });

  it('answers 410 ENDED after the sale window closed, selling nothing', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s410end'), stock: 5, endsAt: Date.now() - 60_000 });
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1' }), 410, 'ENDED');
    expect(await redis.get(skuKeys(sku).stock)).toBe('5');
  });

  it('answers 403 NOT_STARTED before the sale window opens, selling nothing', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s403'), stock: 5, startsAt: Date.now() + 3_600_000 });
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1' }), 403, 'NOT_STARTED');
    expect(await redis.get(skuKeys(sku).stock)).toBe('5');
  });

  it('answers 404 UNKNOWN_SKU for a well-formed sku that was never preloaded, and creates no key for it', async () => {
    const sku = uniqueSku('s404sku');
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1' }), 404, 'UNKNOWN_SKU');
    expect(await redis.exists(...Object.values(skuKeys(sku)))).toBe(0);
  });

  it('answers 404 NOT_FOUND for an unknown route', async () => {
    expectError(await sendHttp(`${url}/no-such-route`), 404, 'NOT_FOUND');
    expectError(await sendHttp(`${url}/reserve/extra`, { method: 'POST', body: '{}' }), 404, 'NOT_FOUND');
  });

  it('answers 405 with an Allow header for a wrong method on a known route', async () => {
    const getReserve = await sendHttp(`${url}/reserve`);
    expectError(getReserve, 405, 'METHOD_NOT_ALLOWED');
    expect(getReserve.headers.allow).toBe('POST');
    const postHealth = await sendHttp(`${url}/health`, { method: 'POST', body: '{}' });
    expectError(postHealth, 405, 'METHOD_NOT_ALLOWED');
    expect(postHealth.headers.allow).toBe('GET');
    const deleteOrder = await sendHttp(`${url}/orders/abc.0123456789abcdef`, { method: 'DELETE' });
    expectError(deleteOrder, 405, 'METHOD_NOT_ALLOWED');
    expect(deleteOrder.headers.allow).toBe('GET');
  });

  it('answers 400 BAD_REQUEST with a message for an invalid body', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s400'), stock: 5 });
    const answer = await postJson(`${url}/reserve`, { sku, userId: 'u1', qty: 0 });
    expectError(answer, 400, 'BAD_REQUEST');
    expect(answer.body.message).toMatch(/qty/);
  });

  it('answers 413 BODY_TOO_LARGE for a body over the 1024-byte default limit', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s413'), stock: 5 });
    const body = JSON.stringify({ sku, userId: 'u1', requestId: 'r'.repeat(20), pad: 'x'.repeat(1024) });
    const answer = await sendHttp(`${url}/reserve`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expectError(answer, 413, 'BODY_TOO_LARGE');
    expect(await redis.get(skuKeys(sku).stock)).toBe('5');
  });

  it('answers GET /health 200 with Redis and MySQL up', async () => {
    const answer = await sendHttp(`${url}/health`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ ok: true, redis: 'up', mysql: 'up' });
  });

  it('counts POST /reserve by outcome and times it in GET /metrics', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('smetrics'), stock: 5 });
    const before = await scrapeMetrics(url);
    expect((await postJson(`${url}/reserve`, { sku, userId: 'u1' })).status).toBe(201);
    expect((await postJson(`${url}/reserve`, { sku, userId: 'u1' })).status).toBe(409);
    expect((await postJson(`${url}/reserve`, { sku })).status).toBe(400);
    const after = await scrapeMetrics(url);

    expect(after).toMatch(/^# TYPE seckill_reserve_requests_total counter$/m);
    expect(after).toMatch(/^# TYPE seckill_reserve_duration_seconds histogram$/m);
    const delta = (sample: string) => metricValue(after, sample) - metricValue(before, sample);
    expect(delta('seckill_reserve_requests_total{outcome="OK"}')).toBe(1);
    expect(delta('seckill_reserve_requests_total{outcome="LIMIT"}')).toBe(1);
    expect(delta('seckill_reserve_requests_total{outcome="BAD_REQUEST"}')).toBe(1);
    expect(delta('seckill_reserve_duration_seconds_count')).toBe(3);
    expect(delta('seckill_reserve_duration_seconds_bucket{le="+Inf"}')).toBe(3);
    expect(after).toMatch(/^seckill_reserve_duration_seconds_sum \d/m);
  });

  it('answers GET /orders/:id with reserved for a fresh reservation and 404 for an unknown id', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('sorder'), stock: 5 });
    const reserved = await postJson(`${url}/reserve`, { sku, userId: 'buyer-1', requestId: 'r1' });
    expect(reserved.status).toBe(201);
    const orderId = reserved.body.orderId as string;

    const order = await sendHttp(`${url}/orders/${orderId}`);
    expect(order.status).toBe(200);
    expect(order.body).toMatchObject({ orderId, sku, userId: 'buyer-1', qty: 1, status: 'reserved' });

    expectError(await sendHttp(`${url}/orders/${sku}.000000000000000000`), 404, 'NOT_FOUND');
    expectError(await sendHttp(`${url}/orders/not-an-order-id`), 404, 'NOT_FOUND');
  });
});

describe('seckill serve with a tiny token bucket (--rate 1 --burst 2)', () => {
  it('answers 429 RATE_LIMITED beyond the burst of concurrent requests, and the refused ones sell nothing', async () => {
    const redis = newRedis();
    redisClients.push(redis);
    const { url } = await start(['--rate', '1', '--burst', '2']);
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s429rate'), stock: 50 });

    const startedAt = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `u${i}` })));
    const elapsedSeconds = (Date.now() - startedAt) / 1000;

    const sold = answers.filter((a) => a.status === 201);
    const limited = answers.filter((a) => a.status === 429);
    expect(sold.length + limited.length).toBe(answers.length);
    for (const a of limited) expectError(a, 429, 'RATE_LIMITED');
    // The bucket holds 2 tokens and refills 1 a second: that is all it may let through.
    expect(sold.length).toBeLessThanOrEqual(2 + Math.ceil(elapsedSeconds));
    expect(limited.length).toBeGreaterThan(0);
    expect(await redis.get(skuKeys(sku).stock)).toBe(String(50 - sold.length));
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(sold.length);
  });
});

describe('seckill serve with the admission cap at 1 × stock (--admission-factor 1 --ticket-chunk 1)', () => {
  let redis: RedisClient;
  let url: string;

  beforeAll(async () => {
    redis = newRedis();
    redisClients.push(redis);
    url = (await start(['--admission-factor', '1', '--ticket-chunk', '1'])).url;
  });

  it('spends no ticket on a request that cannot buy: a user past the limit does not close admission while a unit is left', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s429cap'), stock: 2, limit: 1 });
    expect((await postJson(`${url}/reserve`, { sku, userId: 'u1' })).status).toBe(201);
    // Cap 2: before, each LIMIT spent one and u2 was refused 429 with a unit left.
    for (let i = 0; i < 5; i++) expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1' }), 409, 'LIMIT');
    expect((await postJson(`${url}/reserve`, { sku, userId: 'u2' })).status).toBe(201);
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');
    expect(await redis.get(skuKeys(sku).admitted)).toBe('2');
  });

  it('answers 410 SOLD_OUT, not 429, for a SKU with nothing left, whose admission cap is 0', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s410zero'), stock: 0 });
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1' }), 410, 'SOLD_OUT');
    expect(await redis.get(skuKeys(sku).admitted)).toBeNull();
  });

  it('lets only K × stock of 30 concurrent distinct buyers reach Redis and never sells more than the stock', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('s429conc'), stock: 2, limit: 1 });
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => postJson(`${url}/reserve`, { sku, userId: `buyer-${i}` })));

    const sold = answers.filter((a) => a.status === 201);
    expect(sold.length).toBe(2);
    for (const a of answers.filter((x) => x.status !== 201)) {
      // Refused by the cap, or by the local sold-out flag once the last unit went.
      expect(['429 ADMISSION_CLOSED', '410 SOLD_OUT']).toContain(`${a.status} ${String(a.body.error)}`);
    }
    expect(new Set(sold.map((a) => a.body.orderId)).size).toBe(2);
    expect(await redis.get(skuKeys(sku).admitted)).toBe('2');
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(2);
  });
});

describe('seckill serve whose Redis goes down', () => {
  let redisServer: ChildProcess;
  let redisExited: Promise<unknown>;
  let ownRedis: RedisClient;
  let url: string;
  let def: SkuDefinition;

  beforeAll(async () => {
    const port = await freePort();
    redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
      stdio: 'ignore',
    });
    redisExited = new Promise((resolve) => redisServer.once('exit', resolve));
    const redisUrl = `redis://127.0.0.1:${port}`;
    ownRedis = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    ownRedis.on('error', () => {});
    redisClients.push(ownRedis);
    await waitFor(
      () =>
        ownRedis.ping().then(
          (p) => p === 'PONG',
          () => false,
        ),
      10_000,
      `redis-server on port ${port}`,
    );

    def = await preloadSku(ownRedis, { sku: uniqueSku('s503'), stock: 5 });
    url = (await start([], { REDIS_URL: redisUrl })).url;
  });

  afterAll(async () => {
    if (redisServer.exitCode === null && redisServer.signalCode === null) redisServer.kill('SIGKILL');
    await redisExited;
  });

  it('answers 503 REDIS_DOWN at once (no hang), counts the failure in metrics, and /health says 503', async () => {
    // Up first: the same server sells through this Redis.
    expect((await postJson(`${url}/reserve`, { sku: def.sku, userId: 'before' })).status).toBe(201);
    expect((await sendHttp(`${url}/health`)).status).toBe(200);

    ownRedis.disconnect();
    redisServer.kill('SIGKILL');
    await redisExited;

    const down = await sendHttp(`${url}/reserve`, {
      method: 'POST',
      body: JSON.stringify({ sku: def.sku, userId: 'after', requestId: 'r1' }),
      timeoutMs: 5_000,
    });
    expectError(down, 503, 'REDIS_DOWN');

    // /health answers from a check up to a second old: the one before the kill may still answer.
    let health = await sendHttp(`${url}/health`, { timeoutMs: 5_000 });
    await waitFor(async () => (health = await sendHttp(`${url}/health`, { timeoutMs: 5_000 })).status !== 200, 10_000, '/health to see Redis down');
    expectHealthDown(health, 'redis');

    const metrics = await scrapeMetrics(url);
    expect(metricValue(metrics, 'seckill_dependency_errors_total{dependency="redis"}')).toBeGreaterThan(0);
    expect(metricValue(metrics, 'seckill_reserve_requests_total{outcome="REDIS_DOWN"}')).toBeGreaterThan(0);
  });
});
