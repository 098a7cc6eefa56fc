import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../src/bench/servers/ports.js';
import { maxLeaseSize, RateLimit } from '../../src/gateway/rate-limit.js';
import { connectRedis, type RedisClient } from '../../src/redis/connection.js';
import { rateLimitKey, skuKeys } from '../../src/redis/keys.js';
import { type RateLease, RatePermits } from '../../src/sale/rate-permits.js';
import { connections, newRedis, postJson, preloadSku, serverTracker, testMysql, uniqueSku, waitFor } from '../helpers.js';

/**
 * The fleet's rate limit (serve --rate/--burst): pool instances on
 * connections of their own stand for server processes, then real `seckill
 * serve` processes, all on one real Redis. Each test owns its pool by its
 * own rate and burst (the pool's key), and starts it full by deleting it.
 */

const redis = newRedis();
const clients: RedisClient[] = [];
const { start, stopAll } = serverTracker();

afterAll(async () => {
  await stopAll();
  for (const client of clients) client.disconnect();
  redis.disconnect();
  await (await testMysql()).end();
});

/** A connection of its own, as a server process opens it. */
const processConnection = async (options: Parameters<typeof connectRedis>[1] = {}): Promise<RedisClient> => {
  const client = await connectRedis(connections.redisUrl, options);
  clients.push(client);
  return client;
};

const nextTick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Takes from the pool until `until` (performance.now()), in batches of
 * requests arriving together as a busy server sees them; returns the permits
 * granted and the take() calls made.
 */
const hammer = async (pool: RateLimit, until: number, batch = 20): Promise<{ granted: number; takes: number }> => {
  let granted = 0;
  let takes = 0;
  while (performance.now() < until) {
    const answers = await Promise.all(Array.from({ length: batch }, () => Promise.resolve(pool.take())));
    takes += batch;
    granted += answers.filter(Boolean).length;
    await nextTick(); // let replies and timers in, as between a server's requests
  }
  return { granted, takes };
};

/**
 * Offers each pool `perSecond` take() calls a second for `ms`, spread
 * evenly: every few ms each pool gets what its share of the elapsed time
 * calls for (the pace follows the clock, so a late timer makes one batch
 * larger, never the total more). Returns the take() calls made, those
 * admitted, and how long the offer took.
 */
const offerSteadily = async (pools: RateLimit[], perSecond: number, ms: number): Promise<{ offered: number; admitted: number; windowSeconds: number }> => {
  const offeredSoFar = pools.map(() => 0);
  const answers: Promise<boolean>[] = [];
  const startedAt = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsedMs = Math.min(ms, performance.now() - startedAt);
      const due = Math.floor((elapsedMs * perSecond) / 1000);
      for (const [i, pool] of pools.entries()) for (; offeredSoFar[i] < due; offeredSoFar[i]++) answers.push(Promise.resolve(pool.take()));
      if (elapsedMs >= ms) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  const windowSeconds = (performance.now() - startedAt) / 1000;
  const admitted = (await Promise.all(answers)).filter(Boolean).length;
  return { offered: answers.length, admitted, windowSeconds };
};

describe('the fleet rate limit, shared by pool instances on separate connections', () => {
  it('lets three processes hammering for 2 s admit together at most burst + rate × window + one lease each, and not starve', async () => {
    const rate = 400;
    const burst = 60;
    const lease = maxLeaseSize(rate, burst);
    await redis.del(rateLimitKey(rate, burst));
    const pools = await Promise.all([1, 2, 3].map(async () => new RateLimit(await processConnection(), rate, burst)));

    const startedAt = performance.now();
    const results = await Promise.all(pools.map((pool) => hammer(pool, startedAt + 2_000)));
    const windowSeconds = (performance.now() - startedAt) / 1000;

    const granted = results.reduce((sum, r) => sum + r.granted, 0);
    // Far more was asked than the rate allows: the pool, not the load, set the total.
    expect(results.reduce((sum, r) => sum + r.takes, 0)).toBeGreaterThan(10 * (burst + rate * windowSeconds));
    expect(granted).toBeLessThanOrEqual(burst + rate * windowSeconds + pools.length * lease);
    expect(granted).toBeGreaterThanOrEqual(0.6 * rate * windowSeconds);
    // No process is starved: each got a part of a fair share.
    for (const r of results) expect(r.granted).toBeGreaterThanOrEqual((0.2 * granted) / pools.length);

    // An idle pool's key disappears a few seconds past its full refill.
    const ttl = await redis.pttl(rateLimitKey(rate, burst));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(Math.ceil((burst * 1000) / rate) + 5_000);
  });

  it('lets 32 processes offered 0.64 × rate together at a steady pace admit at least 95 % of it, not a share of leases they dropped', async () => {
    const rate = 5_000;
    const burst = 1_000;
    const processes = 32;
    await redis.del(rateLimitKey(rate, burst));
    const pools = await Promise.all(Array.from({ length: processes }, async () => new RateLimit(await processConnection(), rate, burst)));

    const perProcess = (0.64 * rate) / processes; // 100 a second each
    const { offered, admitted, windowSeconds } = await offerSteadily(pools, perProcess, 3_000);
    console.log(
      `${processes} processes offered ${offered} in ${windowSeconds.toFixed(2)} s (${Math.round(offered / windowSeconds)}/s at --rate ${rate}): admitted ÷ offered = ${(admitted / offered).toFixed(3)}`,
    );

    // The offer was made, and below the rate: the fleet's pool had no reason to refuse any of it.
    expect(offered).toBe(processes * Math.floor(3 * perProcess));
    expect(offered / windowSeconds).toBeLessThanOrEqual(0.64 * rate);
    expect(admitted / offered).toBeGreaterThanOrEqual(0.95);
    // The fleet leased about what it spent, not the whole rate: the pool still holds most of its burst.
    expect(Number(await redis.hget(rateLimitKey(rate, burst), 'permits'))).toBeGreaterThanOrEqual(burst / 2);
  });

  it('hands what is left of a lapsed lease back to the fleet on its next lease call, spends none of it itself, and the pool keeps at most burst', async () => {
    const rate = 1_000;
    const burst = 1_000;
    await redis.del(rateLimitKey(rate, burst));
    const pool = new RateLimit(await processConnection(), rate, burst);
    const leases = vi.spyOn(RatePermits.prototype, 'lease');
    try {
      // A crowd at once, then one more request: its lease is sized by the crowd's demand, and mostly left unspent.
      const crowd = await Promise.all(Array.from({ length: 400 }, () => Promise.resolve(pool.take())));
      expect(await pool.take()).toBe(true);
      const admitted = crowd.filter(Boolean).length + 1;
      const granted = (await Promise.all(leases.mock.results.map((r) => r.value as Promise<RateLease>))).reduce((sum, l) => sum + l.granted, 0);
      const unspent = granted - admitted;
      expect(unspent).toBeGreaterThan(0);

      // The lease's second is up, and the pool has refilled what the crowd took: it is full again.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const callsBefore = leases.mock.calls.length;
      expect(await pool.take()).toBe(true);
      expect(leases.mock.calls.length).toBe(callsBefore + 1);
      expect(leases.mock.calls.at(-1)![1]).toBe(unspent);
      // Handed back to a full pool, the old permits were dropped: they cannot join the next burst.
      const { granted: leasedAfter } = await (leases.mock.results.at(-1)!.value as Promise<RateLease>);
      expect(Number(await redis.hget(rateLimitKey(rate, burst), 'permits'))).toBe(burst - leasedAfter);
    } finally {
      leases.mockRestore();
    }
  });

  it('asks Redis about once per refill of a full lease while empty, however many take() calls a flood makes', async () => {
    const rate = 100;
    const burst = 10;
    const lease = maxLeaseSize(rate, burst); // 5: a full lease refills in 50 ms
    const refillMs = (lease * 1000) / rate;
    await redis.del(rateLimitKey(rate, burst));
    // Without auto-pipelining every script call goes through the client's own sendCommand: count them there.
    const processes = await Promise.all(
      [1, 2].map(async () => {
        const client = await processConnection({ enableAutoPipelining: false });
        return { pool: new RateLimit(client, rate, burst), calls: vi.spyOn(client, 'sendCommand') };
      }),
    );

    const startedAt = performance.now();
    const results = await Promise.all(processes.map(({ pool }) => hammer(pool, startedAt + 1_500, 100)));
    const elapsedMs = performance.now() - startedAt;

    for (const [i, { calls }] of processes.entries()) {
      // One call per refill interval, and a few for the full pool at the start.
      expect(calls.mock.calls.length).toBeLessThanOrEqual(elapsedMs / refillMs + 4);
      expect(calls.mock.calls.length).toBeGreaterThan(0);
      expect(results[i].takes).toBeGreaterThan(5_000);
    }
    expect(results[0].granted + results[1].granted).toBeLessThanOrEqual(burst + (rate * elapsedMs) / 1000 + 2 * lease);
  });
});

describe('the fleet rate limit when Redis is down', () => {
  let redisServer: ChildProcess | null = null;
  let redisExited: Promise<unknown> = Promise.resolve();

  afterAll(async () => {
    if (redisServer && redisServer.exitCode === null && redisServer.signalCode === null) redisServer.kill('SIGKILL');
    await redisExited;
  });

  /** A redis-server of this test's own, to kill. */
  const startOwnRedis = async (): Promise<string> => {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    redisServer = child;
    redisExited = new Promise((resolve) => child.once('exit', resolve));
    const url = `redis://127.0.0.1:${port}`;
    await waitFor(
      () =>
        connectRedis(url).then(
          (c) => (c.disconnect(), true),
          () => false,
        ),
      10_000,
      `redis-server on port ${port}`,
    );
    return url;
  };

  const killOwnRedis = async () => {
    redisServer!.kill('SIGKILL');
    await redisExited;
  };

  it('rejects take() when a lease is needed and Redis cannot be asked (neither a silent true nor a silent false)', async () => {
    const url = await startOwnRedis();
    const client = await connectRedis(url);
    client.on('error', () => {});
    clients.push(client);
    // Leases of 1 from a pool of 2: the second take() needs Redis again.
    const pool = new RateLimit(client, 20, 2);
    expect(await pool.take()).toBe(true);

    await killOwnRedis();
    const answer = await Promise.race([
      Promise.resolve(pool.take()).then(
        (admitted) => `answered ${admitted}`,
        (error: Error) => `rejected: ${error.message}`,
      ),
      new Promise((resolve) => setTimeout(resolve, 3_000, 'no answer within 3 s')),
    ]);
    expect(answer).toMatch(/^rejected: /);
  });

  it('answers 503 REDIS_DOWN, not 429, when the server needs a lease and Redis is down', async () => {
    const url = await startOwnRedis();
    const own = new Redis(url, { maxRetriesPerRequest: 1 });
    clients.push(own);
    const { sku } = await preloadSku(own, { sku: uniqueSku('fleet503'), stock: 5, limit: 1 });
    const server = await start(['--rate', '20', '--burst', '2'], { REDIS_URL: url });
    expect((await postJson(`${server.url}/reserve`, { sku, userId: 'before' })).status).toBe(201);

    own.disconnect();
    await killOwnRedis();
    const answer = await postJson(`${server.url}/reserve`, { sku, userId: 'after' });
    expect({ status: answer.status, error: answer.body.error }).toEqual({ status: 503, error: 'REDIS_DOWN' });
  });
});

// Two separate servers on one Redis, and one server whose two workers share the port: the same fleet bound either way.
describe.each([
  { fleet: 'two seckill serve processes', servers: 2, args: [] as string[] },
  { fleet: 'one seckill serve --workers 2', servers: 1, args: ['--workers', '2'] },
])('$fleet with --rate and --burst on one Redis', ({ servers: count, args }) => {
  it('admit together at most burst + rate × window + one lease per process under load on all of them', async () => {
    const rate = 20;
    const burst = 5;
    const processes = 2;
    const lease = maxLeaseSize(rate, burst);
    await redis.del(rateLimitKey(rate, burst));
    const servers = await Promise.all(Array.from({ length: count }, () => start(['--rate', String(rate), '--burst', String(burst), ...args])));
    // Stock and admission cap far above what the rate lets through: only the pool refuses.
    const { sku } = await preloadSku(redis, { sku: uniqueSku('fleetrate'), stock: 100_000, limit: 1 });

    let buyer = 0;
    const answers: { server: number; status: number; error: unknown }[] = [];
    const startedAt = performance.now();
    const until = startedAt + 2_000;
    const client = async (server: number) => {
      while (performance.now() < until) {
        const a = await postJson(`${servers[server].url}/reserve`, { sku, userId: `buyer-${buyer++}` });
        answers.push({ server, status: a.status, error: a.body.error });
      }
    };
    await Promise.all(Array.from({ length: 32 }, (_, i) => client(i % count)));
    const windowSeconds = (performance.now() - startedAt) / 1000;

    const admitted = answers.filter((a) => a.status !== 429);
    const limited = answers.filter((a) => a.status === 429);
    for (const a of limited) expect(a.error).toBe('RATE_LIMITED');
    expect(admitted.every((a) => a.status === 201)).toBe(true);
    // Each process alone was asked for more than twice the fleet's rate (the workers share their port's
    // connections round-robin): per-process pools would let through twice as much.
    expect(answers.length).toBeGreaterThan(processes * 2 * (burst + rate * windowSeconds));
    expect(admitted.length).toBeLessThanOrEqual(burst + rate * windowSeconds + processes * lease);
    expect(admitted.length).toBeGreaterThanOrEqual(0.5 * rate * windowSeconds);
    expect(Number(await redis.get(skuKeys(sku).stock))).toBe(100_000 - admitted.length);
  });
});
