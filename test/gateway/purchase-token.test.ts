import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RedisClient as Redis } from '../../src/redis/connection.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchaseTokens } from '../../src/gateway/purchase-token.js';
import { skuKeys } from '../../src/redis/keys.js';
import {
  connections,
  metricValue,
  newRedis,
  postJson,
  preloadSku,
  type RunningServer,
  scrapeMetrics,
  sendHttp,
  snapshotSku,
  startServer,
  testMysql,
  uniqueSku,
  waitFor,
} from '../helpers.js';

const SECRET = 'test-secret-of-32-characters-xyz';

describe('purchase tokens (issue/verify, no I/O)', () => {
  let now = 1_800_000_000_000;
  const tokens = createPurchaseTokens({ secret: SECRET, ttlMs: 60_000, clock: () => now });

  it('verifies a token for the sku and user it was issued for, until it expires', () => {
    const issued = tokens.issue('phone-1', 'u1');
    expect(issued.expiresAt).toBe(now + 60_000);
    expect(issued.token).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/);
    expect(tokens.verify(issued.token, 'phone-1', 'u1')).toBe(true);
  });

  it('refuses a token once it expired (at expiresAt, not one ms later)', () => {
    const { token, expiresAt } = tokens.issue('phone-1', 'u1');
    const issuedAt = now;
    now = expiresAt - 1;
    expect(tokens.verify(token, 'phone-1', 'u1')).toBe(true);
    now = expiresAt;
    expect(tokens.verify(token, 'phone-1', 'u1')).toBe(false);
    now = issuedAt;
  });

  it('refuses a token issued to another user', () => {
    expect(tokens.verify(tokens.issue('phone-1', 'u1').token, 'phone-1', 'u2')).toBe(false);
  });

  it('refuses a token issued for another sku', () => {
    expect(tokens.verify(tokens.issue('phone-1', 'u1').token, 'phone-2', 'u1')).toBe(false);
  });

  it('refuses a token signed with another secret', () => {
    const other = createPurchaseTokens({ secret: 'another-secret-of-32-characters!', ttlMs: 60_000, clock: () => now });
    expect(tokens.verify(other.issue('phone-1', 'u1').token, 'phone-1', 'u1')).toBe(false);
  });

  it('refuses a tampered token: a later expiry, a changed MAC character, the MAC of another token', () => {
    const { token, expiresAt } = tokens.issue('phone-1', 'u1');
    const mac = token.slice(token.indexOf('.') + 1);
    expect(tokens.verify(`${expiresAt + 3_600_000}.${mac}`, 'phone-1', 'u1')).toBe(false);
    const flipped = mac.slice(0, 10) + (mac[10] === 'A' ? 'B' : 'A') + mac.slice(11);
    expect(tokens.verify(`${expiresAt}.${flipped}`, 'phone-1', 'u1')).toBe(false);
    const otherMac = tokens.issue('phone-1', 'u2').token.split('.')[1];
    expect(tokens.verify(`${expiresAt}.${otherMac}`, 'phone-1', 'u1')).toBe(false);
    // The 43rd character carries 2 spare bits: another spelling of the same bytes is not accepted either.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = mac.slice(0, 42) + alphabet[alphabet.indexOf(mac[42]) + 1];
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(mac, 'base64url'));
    expect(tokens.verify(`${expiresAt}.${respelled}`, 'phone-1', 'u1')).toBe(false);
  });

  it('refuses garbage without throwing', () => {
    const { token } = tokens.issue('phone-1', 'u1');
    for (const garbage of [
      undefined,
      '',
      '.',
      'x',
      'abc.def',
      `${token}x`,
      ` ${token}`,
      token.replace('.', ':'),
      token.split('.')[1],
      'é'.repeat(60),
      '9'.repeat(10_000),
    ]) {
      expect(tokens.verify(garbage, 'phone-1', 'u1')).toBe(false);
    }
  });
});

// --- through a real server ---------------------------------------------------

type Answer = { status: number; body: Record<string, unknown> | null };

const expectError = (answer: Answer, status: number, code: string) => {
  expect({ status: answer.status, error: answer.body?.error }).toEqual({ status, error: code });
  expect(typeof answer.body?.message).toBe('string');
};

const getToken = (url: string, sku: string, userId: string) => sendHttp(`${url}/sales/${sku}/token?userId=${encodeURIComponent(userId)}`);

const badTokenCount = async (url: string) => metricValue(await scrapeMetrics(url), 'seckill_reserve_requests_total{outcome="BAD_TOKEN"}');

/** Runs `seckill serve` to its end (it is expected not to start), with the given env on top of the test connections. */
const serveUntilExit = async (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> => {
  try {
    await promisify(execFile)(process.execPath, ['bin/seckill', 'serve', '--port', '0', ...args], {
      env: { ...process.env, REDIS_URL: connections.redisUrl, MYSQL_URL: connections.mysqlUrl, ...env },
      timeout: 20_000,
    });
    return { code: 0, stderr: '' };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
};

const redis: Redis = newRedis();
const servers: RunningServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  redis.disconnect();
  await (await testMysql()).end();
});

describe('seckill serve --require-token', () => {
  let url: string;

  beforeAll(async () => {
    const server = await startServer(['--require-token'], { SECKILL_SECRET: SECRET });
    servers.push(server);
    url = server.url;
  });

  it('refuses a token before the sale starts (403 NOT_STARTED) and issues one once it has (within the 1 s window cache)', async () => {
    const startsAt = Date.now() + 1_500;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('tk-start'), stock: 5, startsAt });
    expectError(await getToken(url, sku, 'u1'), 403, 'NOT_STARTED');

    let issued: Answer | undefined;
    await waitFor(async () => (issued = await getToken(url, sku, 'u1')).status !== 403, 5_000, 'a token once the sale started');
    expect(Date.now()).toBeGreaterThanOrEqual(startsAt);
    expect(issued!.status).toBe(200);
    expect(typeof issued!.body!.token).toBe('string');
    expect(issued!.body!.expiresAt).toBeGreaterThan(Date.now() + 50_000);
    expect(issued!.body!.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it("reads a SKU's sale window from Redis at most once a second: a crowd asking for tokens shares one read", async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('tk-cache'), stock: 5 });
    expect((await getToken(url, sku, 'u1')).status).toBe(200);
    // One read of a window is one HLEN (nothing else in this file sends HLEN): count them.
    const reads = async () => Number(/cmdstat_hlen:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const before = await reads();
    const crowd = await Promise.all(Array.from({ length: 20 }, (_, i) => getToken(url, sku, `u${i}`)));
    for (const a of crowd) expect(a.status).toBe(200);
    // None if the cached window was fresh, one if it was refreshed, two if the crowd straddled a refresh: never one each.
    expect((await reads()) - before).toBeLessThanOrEqual(2);
    // And a read does come within a second or so: the SKU taken off sale is seen.
    await redis.del(skuKeys(sku).meta);
    await waitFor(async () => (await getToken(url, sku, 'u1')).status === 404, 2_500, 'the cached sale window to expire');
  });

  it('answers the token route 404 UNKNOWN_SKU, 410 ENDED and 400 for a bad sku or userId', async () => {
    expectError(await getToken(url, uniqueSku('tk-unknown'), 'u1'), 404, 'UNKNOWN_SKU');
    const { sku: ended } = await preloadSku(redis, { sku: uniqueSku('tk-ended'), stock: 5, endsAt: Date.now() - 60_000 });
    expectError(await getToken(url, ended, 'u1'), 410, 'ENDED');

    const { sku } = await preloadSku(redis, { sku: uniqueSku('tk-400'), stock: 5 });
    expectError(await sendHttp(`${url}/sales/${sku}/token`), 400, 'BAD_REQUEST');
    expectError(await sendHttp(`${url}/sales/${sku}/token?userId=`), 400, 'BAD_REQUEST');
    expectError(await sendHttp(`${url}/sales/${sku}/token?userId=a&userId=b`), 400, 'BAD_REQUEST');
    expectError(await getToken(url, sku, 'a/b'), 400, 'BAD_REQUEST');
    expectError(await getToken(url, 'bad%20sku', 'u1'), 400, 'BAD_REQUEST');
    expectError(await getToken(url, 'x'.repeat(65), 'u1'), 400, 'BAD_REQUEST');
    const post = await sendHttp(`${url}/sales/${sku}/token?userId=u1`, { method: 'POST', body: '{}' });
    expectError(post, 405, 'METHOD_NOT_ALLOWED');
    expect(post.headers.allow).toBe('GET');
  });

  it('refuses POST /reserve without a token with 403 BAD_TOKEN, counted, and leaves every Redis key and MySQL row as it was', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('tk-none'), stock: 5 });
    const before = await snapshotSku(redis, sku);
    const countBefore = await badTokenCount(url);

    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1' }), 403, 'BAD_TOKEN');
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'r1', token: 'garbage' }), 403, 'BAD_TOKEN');
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1', token: 42 }), 403, 'BAD_TOKEN');

    expect(await snapshotSku(redis, sku)).toEqual(before);
    expect(await redis.get(skuKeys(sku).admitted)).toBeNull();
    expect((await badTokenCount(url)) - countBefore).toBe(3);
  });

  it("refuses another user's token and another sku's token with 403, and sells with a valid one (201)", async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('tk-use'), stock: 5 });
    const { sku: otherSku } = await preloadSku(redis, { sku: uniqueSku('tk-other'), stock: 5 });
    const mine = await getToken(url, sku, 'u1');
    const theirs = await getToken(url, sku, 'u2');
    const otherSkus = await getToken(url, otherSku, 'u1');
    expect([mine.status, theirs.status, otherSkus.status]).toEqual([200, 200, 200]);
    const before = await snapshotSku(redis, sku);

    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1', token: theirs.body!.token }), 403, 'BAD_TOKEN');
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1', token: otherSkus.body!.token }), 403, 'BAD_TOKEN');
    expect(await snapshotSku(redis, sku)).toEqual(before);

    const sold = await postJson(`${url}/reserve`, { sku, userId: 'u1', requestId: 'r1', token: mine.body!.token });
    expect(sold.status).toBe(201);
    expect(sold.body.remaining).toBe(4);
    expect(await redis.get(skuKeys(sku).stock)).toBe('4');
    // Still a 400 for the fields that are not allowed, token or not.
    expectError(await postJson(`${url}/reserve`, { sku, userId: 'u1', token: mine.body!.token, price: 1 }), 400, 'BAD_REQUEST');
  });

  it('lets none of 50 concurrent bots without a valid token hold stock', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('tk-bots'), stock: 3 });
    const forged = `${Date.now() + 60_000}.${'A'.repeat(43)}`;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => postJson(`${url}/reserve`, i % 2 ? { sku, userId: `bot-${i}` } : { sku, userId: `bot-${i}`, token: forged })),
    );
    for (const a of answers) expectError(a, 403, 'BAD_TOKEN');
    expect(await redis.get(skuKeys(sku).stock)).toBe('3');
    expect(await redis.hlen(skuKeys(sku).holders)).toBe(0);
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(0);
    expect(await redis.get(skuKeys(sku).admitted)).toBeNull();
  });
});

describe('seckill serve without --require-token (the default)', () => {
  it('answers a body with a token field 400 (unknown field) and has no token route', async () => {
    const server = await startServer([], { SECKILL_SECRET: SECRET });
    servers.push(server);
    const { sku } = await preloadSku(redis, { sku: uniqueSku('tk-off'), stock: 5 });
    const answer = await postJson(`${server.url}/reserve`, { sku, userId: 'u1', token: 'x' });
    expectError(answer, 400, 'BAD_REQUEST');
    expect(answer.body.message).toMatch(/unknown field "token"/);
    expectError(await getToken(server.url, sku, 'u1'), 404, 'NOT_FOUND');
    expect((await postJson(`${server.url}/reserve`, { sku, userId: 'u1' })).status).toBe(201);
  });
});

describe('seckill serve --require-token without a usable secret', () => {
  it('exits 2 naming SECKILL_SECRET when it is not set', async () => {
    const run = await serveUntilExit(['--require-token'], { SECKILL_SECRET: undefined });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--require-token.*SECKILL_SECRET/);
  });

  it('exits 2 when SECKILL_SECRET is shorter than 16 characters', async () => {
    const run = await serveUntilExit(['--require-token'], { SECKILL_SECRET: 'x'.repeat(15) });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/at least 16 characters in env SECKILL_SECRET \(it has 15\)/);
  });
});
