import { spawn } from 'node:child_process';
import { request } from 'node:http';
import type { RedisClient as Redis } from '../../src/redis/connection.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRedis, postJson, preloadSku, type RunningServer, sendHttp, snapshotSku, startServer, testMysql, uniqueSku } from '../helpers.js';

/**
 * Bad bodies through a real `seckill serve`: each gets a 4xx with an error
 * code and a message, never a 5xx, and leaves the sale exactly as it was
 * (every Redis key and MySQL row of the SKU compared before and after).
 */

const sku = uniqueSku('bad');
const json = (value: unknown) => JSON.stringify(value);

interface BadBody {
  what: string;
  body: string | Buffer;
  /** 413 where the body is over the 1024-byte limit before it is anything else */
  status: 400 | 413;
}

const BAD_BODIES: BadBody[] = [
  { what: 'malformed JSON', body: `{"sku":"${sku}","userId":"u1"`, status: 400 },
  { what: 'an empty body', body: '', status: 400 },
  { what: 'a JSON array', body: json([{ sku, userId: 'u1' }]), status: 400 },
  { what: 'a JSON string', body: json('buy'), status: 400 },
  { what: 'JSON null', body: 'null', status: 400 },
  { what: 'a JSON number', body: '1', status: 400 },
  { what: 'a missing sku', body: json({ userId: 'u1' }), status: 400 },
  { what: 'a missing userId', body: json({ sku }), status: 400 },
  { what: 'an extra field', body: json({ sku, userId: 'u1', price: 0 }), status: 400 },
  { what: 'a __proto__ field', body: `{"sku":"${sku}","userId":"u1","__proto__":{"qty":1}}`, status: 400 },
  { what: 'sku as a number', body: json({ sku: 123, userId: 'u1' }), status: 400 },
  { what: 'sku null', body: json({ sku: null, userId: 'u1' }), status: 400 },
  { what: 'userId as a number', body: json({ sku, userId: 42 }), status: 400 },
  { what: 'qty as a string', body: json({ sku, userId: 'u1', qty: '1' }), status: 400 },
  { what: 'qty true', body: json({ sku, userId: 'u1', qty: true }), status: 400 },
  { what: 'qty null', body: json({ sku, userId: 'u1', qty: null }), status: 400 },
  { what: 'requestId as a number', body: json({ sku, userId: 'u1', requestId: 7 }), status: 400 },
  { what: 'qty 0', body: json({ sku, userId: 'u1', qty: 0 }), status: 400 },
  { what: 'qty -1', body: json({ sku, userId: 'u1', qty: -1 }), status: 400 },
  { what: 'qty 1.5', body: json({ sku, userId: 'u1', qty: 1.5 }), status: 400 },
  { what: 'qty 1e9', body: `{"sku":"${sku}","userId":"u1","qty":1e9}`, status: 400 },
  { what: 'qty 1e400 (Infinity once parsed)', body: `{"sku":"${sku}","userId":"u1","qty":1e400}`, status: 400 },
  { what: 'a sku with {', body: json({ sku: `${sku}{`, userId: 'u1' }), status: 400 },
  { what: 'a sku with }', body: json({ sku: `}${sku}`, userId: 'u1' }), status: 400 },
  { what: 'a sku with a space', body: json({ sku: `${sku} x`, userId: 'u1' }), status: 400 },
  { what: 'a unicode sku (手机)', body: json({ sku: '手机', userId: 'u1' }), status: 400 },
  { what: 'a sku of 65 characters', body: json({ sku: 'a'.repeat(65), userId: 'u1' }), status: 400 },
  { what: 'an empty sku', body: json({ sku: '', userId: 'u1' }), status: 400 },
  {
    what: 'a sku with invalid UTF-8 bytes',
    body: Buffer.concat([Buffer.from('{"sku":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","userId":"u1"}')]),
    status: 400,
  },
  { what: 'userId ""', body: json({ sku, userId: '' }), status: 400 },
  { what: 'a userId of 65 characters', body: json({ sku, userId: 'u'.repeat(65) }), status: 400 },
  { what: 'a userId with /', body: json({ sku, userId: 'u1/r1' }), status: 400 },
  { what: 'a userId of 10,000 characters', body: json({ sku, userId: 'u'.repeat(10_000) }), status: 413 },
  { what: 'a requestId with a space', body: json({ sku, userId: 'u1', requestId: 'r 1' }), status: 400 },
  { what: 'requestId ""', body: json({ sku, userId: 'u1', requestId: '' }), status: 400 },
  { what: 'a requestId of 65 characters', body: json({ sku, userId: 'u1', requestId: 'r'.repeat(65) }), status: 400 },
];

const ERROR_FOR = { 400: 'BAD_REQUEST', 413: 'BODY_TOO_LARGE' } as const;

const expectRefusal = (answer: { status: number; body: Record<string, unknown> | null; text?: string }, status: 400 | 413) => {
  expect({ status: answer.status, error: answer.body?.error }, answer.text).toEqual({ status, error: ERROR_FOR[status] });
  expect(typeof answer.body?.message).toBe('string');
  expect((answer.body!.message as string).length).toBeGreaterThan(0);
};

type Raw = { status: number; body: Record<string, unknown> | null; text: string };

const parse = (status: number, text: string): Raw => {
  let body: Record<string, unknown> | null = null;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // leave null: the assertion shows the text
  }
  return { status, body, text };
};

/**
 * Sends the request head, then `firstChunk` (if any), and waits for the
 * answer without sending more: the server must refuse on what it has. The
 * rest of the body is never sent, so the server's early close cannot race a
 * write of ours (see the 1 MB test below for why that matters).
 */
const sendUntilAnswered = (url: string, headers: Record<string, string | number>, firstChunk?: Buffer): Promise<Raw> =>
  new Promise((resolve, reject) => {
    const req = request(`${url}/reserve`, { method: 'POST', headers, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        resolve(parse(res.statusCode!, text));
        req.destroy();
      });
    });
    req.on('error', reject);
    if (firstChunk) req.write(firstChunk);
    else req.flushHeaders();
  });

/**
 * curl sends the whole body and still reads an answer that comes early.
 * Node's clients (fetch, node:http, net) do not: when the server closes while
 * they are still writing, the write fails with EPIPE and the socket is
 * destroyed before the 413 already received is read.
 */
const curlPost = (url: string, body: Buffer): Promise<Raw> =>
  new Promise((resolve, reject) => {
    const curl = spawn(
      'curl',
      ['-sS', '-X', 'POST', '-H', 'content-type: application/json', '--data-binary', '@-', '-w', '\n%{http_code}', '--max-time', '10', `${url}/reserve`],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    curl.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    curl.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    curl.on('error', reject);
    curl.on('close', (code) => {
      if (code !== 0) return reject(new Error(`curl exited ${code}: ${err}`));
      const cut = out.lastIndexOf('\n');
      resolve(parse(Number(out.slice(cut + 1)), out.slice(0, cut)));
    });
    curl.stdin.on('error', () => {}); // curl may stop reading once it has the answer
    curl.stdin.end(body);
  });

/**
 * Every Redis key and MySQL row of the SKU, less empty streams: a relay in
 * another test file that listed the SKU before it left the index creates its
 * outbox stream (XGROUP CREATE … MKSTREAM) with no entry, which is no sale state.
 */
const saleState = async (redis: Redis): Promise<unknown> => {
  const snapshot = (await snapshotSku(redis, sku)) as { keys: Record<string, unknown> };
  for (const [key, value] of Object.entries(snapshot.keys)) if (Array.isArray(value) && value.length === 0) delete snapshot.keys[key];
  return snapshot;
};

describe('POST /reserve with a bad body', () => {
  let redis: Redis;
  let server: RunningServer;

  beforeAll(async () => {
    redis = newRedis();
    await preloadSku(redis, { sku, stock: 10, limit: 1 });
    server = await startServer();
  });

  afterAll(async () => {
    await server?.stop();
    redis?.disconnect();
    await (await testMysql()).end();
  });

  it.each(BAD_BODIES)('refuses $what with $status, an error and a message, and changes nothing', async ({ body, status }) => {
    const before = await saleState(redis);
    const answer = await sendHttp(`${server.url}/reserve`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expectRefusal(answer, status);
    expect(await saleState(redis)).toEqual(before);
  });

  it('refuses a 1 MB body with 413 on its Content-Length alone, before a byte of it is read, and changes nothing', async () => {
    const before = await saleState(redis);
    const answer = await sendUntilAnswered(server.url, { 'content-type': 'application/json', 'content-length': 1024 * 1024 });
    expectRefusal(answer, 413);
    expect(await saleState(redis)).toEqual(before);
  });

  it('refuses a chunked body (no Content-Length) with 413 as soon as it passes 1024 bytes, and changes nothing', async () => {
    const before = await saleState(redis);
    const firstChunk = Buffer.from(`{"sku":"${sku}","userId":"u1","requestId":"${'r'.repeat(2_000)}`);
    const answer = await sendUntilAnswered(server.url, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, firstChunk);
    expectRefusal(answer, 413);
    expect(await saleState(redis)).toEqual(before);
  });

  it('answers 413 to a client that sends a whole 1 MB body, and changes nothing', async () => {
    const before = await saleState(redis);
    const megabyte = Buffer.alloc(1024 * 1024, 'x');
    megabyte.write(`{"sku":"${sku}","userId":"u1","pad":"`);
    const answer = await curlPost(server.url, megabyte);
    expectRefusal(answer, 413);
    expect(await saleState(redis)).toEqual(before);
  });

  it('still sells the same SKU to a valid body, so the refusals above were about the body alone', async () => {
    const answer = await postJson(`${server.url}/reserve`, { sku, userId: 'u1', qty: 1, requestId: 'r1' });
    expect(answer.status).toBe(201);
  });
});
