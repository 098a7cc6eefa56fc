import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtAuthenticator } from '../../src/gateway/identity.js';
import { skuKeys } from '../../src/redis/keys.js';
import type { OrderEvent } from '../../src/sale/order-event.js';
import { Reservations } from '../../src/sale/reservations.js';
import { applyOrderBatch } from '../../src/store/order-batch.js';
import { findOrder } from '../../src/store/orders.js';
import {
  connections,
  metricValue,
  newRedis,
  preloadSku,
  type RunningServer,
  scrapeMetrics,
  sendHttp,
  serverTracker,
  snapshotSku,
  testMysql,
  uniqueSku,
  waitFor,
} from '../helpers.js';

/**
 * `serve --auth jwt`, each claim through a real server process, real Redis
 * and MariaDB: the buyer is the bearer token's sub, every way a token can be
 * wrong is a 401 with its reason that changes nothing, and the key file is
 * read again on SIGHUP.
 */

const SECRET = 'auth-test-secret-of-at-least-32-bytes!';
const ISSUER = 'https://login.test';
const AUDIENCE = 'seckill';
const secretKey = new TextEncoder().encode(SECRET);

/** A token as the shop's login would sign it: HS256 with the shared secret, 10 minutes, for `sub`. */
const signed = (
  sub: string | undefined,
  overrides: { claims?: JWTPayload; key?: Uint8Array; expiresIn?: string | number; notBefore?: string | number; issuer?: string; audience?: string } = {},
) => {
  const jwt = new SignJWT({ ...overrides.claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(overrides.issuer ?? ISSUER)
    .setAudience(overrides.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(overrides.expiresIn ?? '10m');
  if (sub !== undefined) jwt.setSubject(sub);
  if (overrides.notBefore !== undefined) jwt.setNotBefore(overrides.notBefore);
  return jwt.sign(overrides.key ?? secretKey);
};

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const reserve = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  sendHttp(`${url}/reserve`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

const pay = (url: string, orderId: string, body: unknown, headers: Record<string, string> = {}) =>
  sendHttp(`${url}/orders/${orderId}/pay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? '' : JSON.stringify(body),
  });

type Answer = Awaited<ReturnType<typeof sendHttp>>;

const expectUnauthorized = (answer: Answer, reason: string) => {
  expect({ status: answer.status, error: answer.body?.error, reason: answer.body?.reason }, answer.text).toEqual({
    status: 401,
    error: 'UNAUTHORIZED',
    reason,
  });
  expect(typeof answer.body?.message).toBe('string');
  expect(answer.headers['www-authenticate']).toMatch(
    reason === 'MISSING' ? /^Bearer realm="seckill"$/ : /^Bearer realm="seckill", error="invalid_token", error_description="[^"]+"$/,
  );
};

const refusedCount = async (url: string, reason: string) => metricValue(await scrapeMetrics(url), `seckill_auth_refused_total{reason="${reason}"}`);

const redis = newRedis();
const { start, stopAll } = serverTracker();
const dir = mkdtempSync(join(tmpdir(), 'seckill-auth-'));

afterAll(async () => {
  await stopAll();
  redis.disconnect();
  await (await testMysql()).end();
  rmSync(dir, { recursive: true, force: true });
});

const JWT_FLAGS = ['--auth', 'jwt', '--jwt-issuer', ISSUER, '--jwt-audience', AUDIENCE];

describe('seckill serve --auth jwt (HS256)', () => {
  let url: string;
  let server: RunningServer;

  beforeAll(async () => {
    server = await start(JWT_FLAGS, { SECKILL_JWT_SECRET: SECRET });
    url = server.url;
  });

  it('says at start-up what it checks', () => {
    expect(server.stderr()).toMatch(/identity: --auth jwt: the buyer is the bearer token's sub; HS256 .*issuer "https:\/\/login.test", audience "seckill"/);
  });

  it('answers every bad token 401 with its reason and a WWW-Authenticate challenge, counts it by reason, and changes nothing in Redis or MySQL', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-401'), stock: 5 });
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Record<string, string>][] = [
      ['MISSING', {}],
      ['MISSING', { authorization: '' }],
      ['MALFORMED', { authorization: 'Basic dTE6cGFzcw==' }],
      ['MALFORMED', bearer('not-a-jwt')],
      ['MALFORMED', bearer('a.b.c')],
      ['MALFORMED', bearer(`${'x'.repeat(5_000)}.y.z`)],
      ['EXPIRED', bearer(await signed('u1', { expiresIn: now - 60 }))],
      ['NOT_YET_VALID', bearer(await signed('u1', { notBefore: now + 600 }))],
      ['BAD_SIGNATURE', bearer(await signed('u1', { key: new TextEncoder().encode('another-secret-of-at-least-32-bytes!!') }))],
      ['BAD_ALGORITHM', bearer(new UnsecuredJWT({ sub: 'u1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('10m').encode())],
      ['WRONG_ISSUER', bearer(await signed('u1', { issuer: 'https://evil.test' }))],
      ['WRONG_AUDIENCE', bearer(await signed('u1', { audience: 'another-service' }))],
      ['BAD_SUBJECT', bearer(await signed('u1/r1'))],
      ['BAD_SUBJECT', bearer(await signed(undefined))],
      ['BAD_SUBJECT', bearer(await signed('x'.repeat(65)))],
    ];
    const reasons = [...new Set(cases.map(([reason]) => reason))];
    const countsBefore = await Promise.all(reasons.map((r) => refusedCount(url, r)));
    const before = await snapshotSku(redis, sku);

    for (const [reason, headers] of cases) {
      expectUnauthorized(await reserve(url, { sku, userId: 'u1', requestId: 'r1' }, headers), reason);
      // With the userId left out too: no body can stand in for the token.
      expectUnauthorized(await reserve(url, { sku, requestId: 'r1' }, headers), reason);
    }

    expect(await snapshotSku(redis, sku)).toEqual(before);
    expect(await redis.get(skuKeys(sku).admitted)).toBeNull();
    const countsAfter = await Promise.all(reasons.map((r) => refusedCount(url, r)));
    expect(Object.fromEntries(reasons.map((r, i) => [r, countsAfter[i] - countsBefore[i]]))).toEqual(
      Object.fromEntries(reasons.map((r) => [r, 2 * cases.filter(([c]) => c === r).length])),
    );
  });

  it('refuses a token without exp (it would never expire) as MALFORMED', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-noexp'), stock: 5 });
    const forever = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setIssuer(ISSUER).setAudience(AUDIENCE).sign(secretKey);
    expectUnauthorized(await reserve(url, { sku }, bearer(forever)), 'MALFORMED');
    expect(await redis.get(skuKeys(sku).stock)).toBe('5');
  });

  it("buys as the token's sub; a userId in the body that is another buyer is refused 403 WRONG_USER and changes nothing", async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-sub'), stock: 5 });
    const tokenOfA = await signed('alice');
    const before = await snapshotSku(redis, sku);
    const mismatches = await refusedCount(url, 'WRONG_USER');

    const asB = await reserve(url, { sku, userId: 'bob', requestId: 'r1' }, bearer(tokenOfA));
    expect({ status: asB.status, error: asB.body?.error }).toEqual({ status: 403, error: 'WRONG_USER' });
    expect(await snapshotSku(redis, sku)).toEqual(before);
    expect((await refusedCount(url, 'WRONG_USER')) - mismatches).toBe(1);

    // The userId left out: the buyer is the sub.
    const sold = await reserve(url, { sku, requestId: 'r1' }, bearer(tokenOfA));
    expect(sold.status).toBe(201);
    const record = JSON.parse((await redis.hget(skuKeys(sku).reservations, sold.body!.orderId as string))!) as OrderEvent;
    expect(record.userId).toBe('alice');
    expect(await redis.hkeys(skuKeys(sku).holders)).toEqual(['alice']);
    // The userId given and the sub's own: the same buyer, the same request (DUPLICATE, same order).
    const again = await reserve(url, { sku, userId: 'alice', requestId: 'r1' }, bearer(tokenOfA));
    expect({ status: again.status, orderId: again.body?.orderId }).toEqual({ status: 409, orderId: sold.body!.orderId });
  });

  it('counts two tokens of the same sub against one per-user limit', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-limit'), stock: 5, limit: 1 });
    const first = await signed('carol', { claims: { jti: 'session-1' } });
    const second = await signed('carol', { claims: { jti: 'session-2' }, expiresIn: '20m' });
    expect(second).not.toBe(first);
    const bought = await reserve(url, { sku, requestId: 'phone' }, bearer(first));
    expect(bought.status).toBe(201);
    const other = await reserve(url, { sku, requestId: 'laptop' }, bearer(second));
    expect({ status: other.status, error: other.body?.error, orderId: other.body?.orderId }).toEqual({
      status: 409,
      error: 'LIMIT',
      orderId: bought.body!.orderId,
    });
    expect(await redis.get(skuKeys(sku).stock)).toBe('4');
  });

  it("pays an order only for its own buyer: another buyer's token is 403 WRONG_USER and the order stays unpaid", async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-pay'), stock: 5 });
    const sold = await reserve(url, { sku, requestId: 'r1' }, bearer(await signed('dave')));
    const orderId = sold.body!.orderId as string;
    const tokenOfE = await signed('erin');

    // Still on its way to MySQL: the reservation in Redis says whose it is.
    expect((await pay(url, orderId, undefined, bearer(tokenOfE))).body?.error).toBe('WRONG_USER');
    expect((await pay(url, orderId, {}, bearer(await signed('dave')))).body?.error).toBe('NOT_CONFIRMED');

    // In MySQL, as the consumer writes it.
    const event = JSON.parse((await redis.hget(skuKeys(sku).reservations, orderId))!) as OrderEvent;
    await applyOrderBatch(await testMysql(), [event], 600_000);
    await new Reservations(redis).markPersisted(sku, [orderId]);

    for (const [body, headers] of [
      [undefined, bearer(tokenOfE)],
      [{ userId: 'erin' }, bearer(tokenOfE)],
      // Naming the owner does not help a token of someone else.
      [{ userId: 'dave' }, bearer(tokenOfE)],
    ] as const) {
      const answer = await pay(url, orderId, body, headers);
      expect({ status: answer.status, error: answer.body?.error }).toEqual({ status: 403, error: 'WRONG_USER' });
    }
    expectUnauthorized(await pay(url, orderId, { userId: 'dave' }), 'MISSING');
    expect((await findOrder(await testMysql(), orderId))!.status).toBe('PENDING');

    const paid = await pay(url, orderId, undefined, bearer(await signed('dave')));
    expect({ status: paid.status, state: paid.body?.status }).toEqual({ status: 200, state: 'paid' });
  });

  it('shows an order to its own buyer only (GET /orders/:id)', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-view'), stock: 5 });
    const sold = await reserve(url, { sku }, bearer(await signed('frank')));
    const orderId = sold.body!.orderId as string;
    expect((await sendHttp(`${url}/orders/${orderId}`, { headers: bearer(await signed('frank')) })).status).toBe(200);
    expect((await sendHttp(`${url}/orders/${orderId}`, { headers: bearer(await signed('grace')) })).body?.error).toBe('WRONG_USER');
    expectUnauthorized(await sendHttp(`${url}/orders/${orderId}`), 'MISSING');
  });
});

describe('seckill serve --auth jwt --require-token', () => {
  let url: string;

  beforeAll(async () => {
    url = (await start([...JWT_FLAGS, '--require-token'], { SECKILL_JWT_SECRET: SECRET, SECKILL_SECRET: 'purchase-token-secret-32-chars!!' })).url;
  });

  it('issues a purchase token only to the signed-in buyer, bound to them', async () => {
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-ptok'), stock: 5 });
    expectUnauthorized(await sendHttp(`${url}/sales/${sku}/token?userId=henry`), 'MISSING');
    const other = await sendHttp(`${url}/sales/${sku}/token?userId=ivy`, { headers: bearer(await signed('henry')) });
    expect({ status: other.status, error: other.body?.error }).toEqual({ status: 403, error: 'WRONG_USER' });

    const mine = await sendHttp(`${url}/sales/${sku}/token`, { headers: bearer(await signed('henry')) });
    expect(mine.status).toBe(200);
    const purchaseToken = mine.body!.token as string;
    // Henry's purchase token is no use to Ivy, signed in as herself.
    const stolen = await reserve(url, { sku, token: purchaseToken }, bearer(await signed('ivy')));
    expect({ status: stolen.status, error: stolen.body?.error }).toEqual({ status: 403, error: 'BAD_TOKEN' });
    expect(await redis.get(skuKeys(sku).stock)).toBe('5');
    expect((await reserve(url, { sku, token: purchaseToken }, bearer(await signed('henry')))).status).toBe(201);
  });
});

// --- keys in files: a PEM public key, a JWKS with rotation ------------------

const keyPair = async (alg: 'RS256' | 'ES256', kid: string) => {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const sign = (sub: string) =>
    new SignJWT({})
      .setProtectedHeader({ alg, kid })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  return { publicKey, jwk, sign };
};

describe('seckill serve --auth jwt --jwt-public-key', () => {
  it('takes RS256 tokens of that key, and not an HS256 token "signed" with the public key as a secret (algorithm confusion)', async () => {
    const { publicKey, sign } = await keyPair('RS256', 'pem-1');
    const pemFile = join(dir, 'public.pem');
    const pem = await exportSPKI(publicKey);
    writeFileSync(pemFile, pem);
    const { url } = await start([...JWT_FLAGS, '--jwt-public-key', pemFile]);
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-pem'), stock: 5 });

    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(pem));
    expectUnauthorized(await reserve(url, { sku }, bearer(confused)), 'BAD_ALGORITHM');
    expect(await redis.get(skuKeys(sku).stock)).toBe('5');
    expect((await reserve(url, { sku }, bearer(await sign('judy')))).status).toBe(201);
  });
});

const writeJwks = (file: string, keys: JWK[] | string) => writeFileSync(file, typeof keys === 'string' ? keys : JSON.stringify({ keys }));

describe('seckill serve --auth jwt --jwks: key rotation', () => {
  it('accepts tokens of both keys, refuses the removed key after SIGHUP (same process, same connection), and keeps the keys in use when the new file is bad', async () => {
    const old = await keyPair('ES256', 'key-2026-10');
    const fresh = await keyPair('RS256', 'key-2026-11');
    const file = join(dir, 'jwks.json');
    writeJwks(file, [old.jwk, fresh.jwk]);
    const server = await start([...JWT_FLAGS, '--jwks', file]);
    const { url } = server;
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-rot'), stock: 100, limit: 100 });
    const buy = async (token: string, headers: Record<string, string> = {}) => reserve(url, { sku }, { ...bearer(token), ...headers });

    expect((await buy(await old.sign('kate'))).status).toBe(201);
    expect((await buy(await fresh.sign('kate'))).status).toBe(201);
    // A token naming a kid the set does not have.
    const stranger = await keyPair('ES256', 'key-unknown');
    expectUnauthorized(await buy(await stranger.sign('kate')), 'UNKNOWN_KEY');

    // A keep-alive connection opened before the reload, to see it served after it.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const onKeptConnection = (token: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request(`${url}/reserve`, { method: 'POST', agent, headers: { 'content-type': 'application/json', ...bearer(token) } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ sku }));
      });
    expect(await onKeptConnection(await fresh.sign('kate'))).toEqual({ status: 201, reused: false });

    const reloads = async (result: string) => metricValue(await scrapeMetrics(url), `seckill_auth_key_reloads_total{result="${result}"}`);
    writeJwks(file, [fresh.jwk]);
    server.process.kill('SIGHUP');
    await waitFor(async () => (await reloads('ok')) === 1, 5_000, 'the reload');
    expectUnauthorized(await buy(await old.sign('kate')), 'UNKNOWN_KEY');
    expect((await buy(await fresh.sign('kate'))).status).toBe(201);
    expect(await onKeptConnection(await old.sign('kate'))).toEqual({ status: 401, reused: true });
    expect(await onKeptConnection(await fresh.sign('kate'))).toEqual({ status: 201, reused: true });
    agent.destroy();
    expect(server.stderr()).toMatch(/SIGHUP: keys reloaded: RS256 with the 1 key\(s\) of .*\(kid key-2026-11\)/);

    // A file that does not load (half written, a private key pasted in): the keys in use stay, and the log says why.
    for (const bad of ['{"keys": [', JSON.stringify({ keys: [{ ...fresh.jwk, d: 'secret' }] })]) {
      const failedBefore = await reloads('failed');
      writeJwks(file, bad);
      server.process.kill('SIGHUP');
      await waitFor(async () => (await reloads('failed')) === failedBefore + 1, 5_000, 'the failed reload');
      expect((await buy(await fresh.sign('kate'))).status).toBe(201);
      expectUnauthorized(await buy(await old.sign('kate')), 'UNKNOWN_KEY');
    }
    expect(server.stderr()).toMatch(/SIGHUP: reload failed, the keys in use stay: --jwks .* is not JSON/);
    expect(server.stderr()).toMatch(/SIGHUP: reload failed, the keys in use stay: .*private or secret key material/);
    expect(server.process.exitCode).toBeNull();
  });

  it('with --workers 2: SIGHUP to the primary reloads every worker', async () => {
    const old = await keyPair('ES256', 'w-old');
    const fresh = await keyPair('ES256', 'w-new');
    const file = join(dir, 'jwks-workers.json');
    writeJwks(file, [old.jwk, fresh.jwk]);
    const fleet = await start([...JWT_FLAGS, '--jwks', file, '--workers', '2']);
    const { sku } = await preloadSku(redis, { sku: uniqueSku('auth-fleet'), stock: 1_000, limit: 1_000 });
    const oldToken = await old.sign('leo');
    const answers = async (token: string) => Promise.all(Array.from({ length: 20 }, () => reserve(fleet.url, { sku }, bearer(token))));
    expect((await answers(oldToken)).map((a) => a.status)).toEqual(Array(20).fill(201));

    writeJwks(file, [fresh.jwk]);
    fleet.process.kill('SIGHUP');
    // The fleet's metrics are summed over the workers: two reloads, one each.
    await waitFor(
      async () => metricValue(await scrapeMetrics(fleet.url), 'seckill_auth_key_reloads_total{result="ok"}') === 2,
      10_000,
      'both workers to reload',
    );
    // Each of 20 requests, whichever worker takes it, refuses the removed key.
    for (const a of await answers(oldToken)) expectUnauthorized(a, 'UNKNOWN_KEY');
    expect((await answers(await fresh.sign('leo'))).map((a) => a.status)).toEqual(Array(20).fill(201));
  });
});

// --- start-up ---------------------------------------------------------------

const serveUntilExit = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> => {
  try {
    await promisify(execFile)(process.execPath, ['bin/seckill', 'serve', '--port', '0', ...args], {
      env: { ...process.env, REDIS_URL: connections.redisUrl, MYSQL_URL: connections.mysqlUrl, SECKILL_JWT_SECRET: '', ...env },
      timeout: 20_000,
    });
    return { code: 0, stderr: '' };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
};

describe('seckill serve --auth start-up', () => {
  it('says --auth none is the default and takes the userId on its word', async () => {
    const server = await start([]);
    expect(server.stderr()).toMatch(/identity: --auth none: the userId a request names is taken on its word/);
  });

  it('exits 2 naming what is wrong with the key or the flags', async () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['--auth', 'jwt'], {}, /--auth jwt needs a key: --jwks FILE, --jwt-public-key FILE, or an HS256 secret in env SECKILL_JWT_SECRET/],
      [['--auth', 'jwt'], { SECKILL_JWT_SECRET: 'too-short' }, /HS256 secret must be at least 32 bytes \(it has 9\)/],
      [['--auth', 'jwt', '--jwks', join(dir, 'missing.json')], {}, /cannot read --jwks .*missing.json: ENOENT/],
      [['--auth', 'jwt', '--jwks', join(dir, 'x.json'), '--jwt-public-key', join(dir, 'x.pem')], {}, /takes one key: --jwks or --jwt-public-key/],
      [['--jwt-audience', 'seckill'], {}, /--jwt-audience needs --auth jwt/],
      [['--auth', 'maybe'], {}, /--auth.*maybe/],
    ];
    for (const [args, env, message] of cases) {
      const run = await serveUntilExit(args, env);
      expect({ code: run.code, args }).toEqual({ code: 2, args });
      expect(run.stderr).toMatch(message);
    }
  });
});

// --- the verifier alone (no I/O) --------------------------------------------

describe('the JWT verifier', () => {
  it('answers garbage with a reason, never a throw', async () => {
    const auth = await createJwtAuthenticator({ keys: { kind: 'secret', secret: SECRET }, issuer: ISSUER, audience: AUDIENCE });
    const valid = await signed('u1');
    const [h, p, s] = valid.split('.');
    const garbage = [
      'Bearer',
      'Bearer ',
      'bearer  ',
      `Bearer ${valid} extra`,
      `Bearer ${h}.${p}`,
      `Bearer ${h}.${p}.${s}x`,
      `Bearer ${p}.${h}.${s}`,
      'Bearer é',
      `Bearer ${'A'.repeat(10_000)}`,
      'Bearer ...',
      `Bearer ${h}..${s}`,
    ];
    for (const header of garbage) {
      const verdict = await auth.identify(header);
      expect(verdict.ok, header.slice(0, 80)).toBe(false);
    }
    expect(await auth.identify(`bearer ${valid}`)).toEqual({ ok: true, userId: 'u1' });
  });
});
