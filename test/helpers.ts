import { execFile } from 'node:child_process';
import { Agent, type ClientRequest, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { startSeckillProcess, type SeckillProcess, type StartOptions } from '../src/bench/servers/processes.js';
import { loadConnections } from '../src/config.js';
import { createRedis, type RedisClient } from '../src/redis/connection.js';
import { allSkuKeys, skuKeys, streamMessage } from '../src/redis/keys.js';
import { eventTexts, type OrderEvent } from '../src/sale/order-event.js';
import type { SkuDefinition } from '../src/sale/catalog.js';
import { putOnSale } from '../src/sale/put-on-sale.js';
import { inventoryRecord } from '../src/store/inventory.js';
import { openMysql } from '../src/store/mysql.js';
import { answerMismatch, describeOrigin, forgetOrigin } from './openapi.js';
import { TEST_DEFAULTS } from './test-env.js';
import { afterAll, expect } from 'vitest';

/**
 * Shared by the tests: real Redis and MySQL at the addresses of REDIS_URL and
 * MYSQL_URL (defaults: the machine's own), SKU names of their own so that
 * test files can run in parallel.
 */
export const connections = loadConnections({}, { ...process.env, ...TEST_DEFAULTS });

export const uniqueSku = (label: string): string => `t-${label}-${randomBytes(4).toString('hex')}`;

/** A client of the test Redis: one Redis, or the local Redis Cluster when SECKILL_TEST_REDIS_URL names one (the cluster project). */
export const newRedis = (): RedisClient => createRedis(connections.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 20 });

let pool: Promise<Pool> | null = null;
export const testMysql = (): Promise<Pool> => (pool ??= openMysql(connections.mysqlUrl));

/** Puts a SKU on sale afresh in the test MySQL and the given Redis, as `seckill preload --reset --yes` does. */
export const preloadSku = async (redis: RedisClient, def: Partial<SkuDefinition> & { sku: string; stock: number }): Promise<SkuDefinition> => {
  const full: SkuDefinition = { limit: 1, startsAt: null, endsAt: null, ...def };
  await putOnSale(redis, inventoryRecord(await testMysql()), [full], { reset: true });
  return full;
};

/** The order events waiting in a SKU's outbox, in order (an entry holds one reserve.lua call's events, one per line). */
export const outboxEvents = async (redis: RedisClient, sku: string): Promise<OrderEvent[]> => {
  const entries = (await redis.xrange(skuKeys(sku).outbox, '-', '+')) as [string, string[]][];
  return entries.flatMap(([, fields]) => eventTexts(streamMessage(fields)).map((text) => JSON.parse(text) as OrderEvent));
};

/** Every Redis key and MySQL row of a SKU, to compare before and after. */
export const snapshotSku = async (redis: RedisClient, sku: string): Promise<unknown> => {
  const keys: Record<string, unknown> = {};
  for (const key of allSkuKeys(sku)) {
    const type = await redis.type(key);
    if (type === 'string') keys[key] = await redis.get(key);
    else if (type === 'hash') keys[key] = await redis.hgetall(key);
    else if (type === 'stream') keys[key] = await redis.xrange(key, '-', '+');
    else if (type !== 'none') keys[key] = type;
  }
  const mysql = await testMysql();
  const [inventory] = await mysql.query<RowDataPacket[]>('SELECT * FROM inventory WHERE sku = ?', [sku]);
  const [orders] = await mysql.query<RowDataPacket[]>('SELECT * FROM orders WHERE sku = ? ORDER BY order_id', [sku]);
  return { keys, inventory, orders };
};

/**
 * A TCP proxy in front of MySQL that a test can cut and restore, to make
 * MySQL unreachable for the processes started on its url (a consumer, a
 * worker) without touching the real server.
 */
export const startMysqlProxy = async () => {
  const target = new URL(connections.mysqlUrl);
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port || 3306), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  const url = `mysql://root@127.0.0.1:${port}${target.pathname}`;
  return {
    url,
    /** closes every connection through the proxy and refuses new ones */
    cut: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server!.close(() => resolve());
      }),
    restore: listen,
  };
};

export type RunningProcess = SeckillProcess;

/**
 * Starts a seckill command as its own process against the test databases and
 * the test broker. The ports of a `seckill serve` are described by
 * openapi.json: until it exits, every answer the HTTP helpers get from them
 * is checked against the document (openapi.ts).
 */
export const startSeckill = async (command: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, options: StartOptions = {}): Promise<RunningProcess> => {
  const running = await startSeckillProcess(
    command,
    args,
    {
      REDIS_URL: connections.redisUrl,
      MYSQL_URL: connections.mysqlUrl,
      KAFKA_BROKERS: TEST_DEFAULTS.KAFKA_BROKERS,
      ...env,
    },
    options,
  );
  if (command === 'serve') {
    const ports = Object.entries({ buyers: running.ready.listening, operator: running.ready.metrics }).filter(
      (port): port is ['buyers' | 'operator', string] => typeof port[1] === 'string',
    );
    for (const [port, url] of ports) describeOrigin(url, port);
    void running.exited.then(() => ports.forEach(([, url]) => forgetOrigin(url)));
  }
  return running;
};

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI to its end against the test databases and broker, and
 * returns its exit code and output (a non-zero exit is an answer, not a throw).
 */
export const runSeckill = async (args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000): Promise<CliRun> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['bin/seckill', ...args], {
      env: { ...process.env, REDIS_URL: connections.redisUrl, MYSQL_URL: connections.mysqlUrl, KAFKA_BROKERS: TEST_DEFAULTS.KAFKA_BROKERS, ...env },
      timeout: timeoutMs,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

export interface RunningServer extends RunningProcess {
  url: string;
}

/** Starts `seckill serve` on a free port. */
export const startServer = async (args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningServer> => {
  const running = await startSeckill('serve', ['--port', '0', ...args], env);
  return { ...running, url: running.ready.listening as string };
};

/**
 * The servers a test file starts: `start` records each, `stopAll` (in
 * afterAll) stops those still running, so none outlives its file.
 */
export const serverTracker = () => {
  const servers: RunningServer[] = [];
  const workerPids: number[] = [];
  return {
    start: async (args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningServer> => {
      const server = await startServer(args, env);
      servers.push(server);
      return server;
    },
    /** the workers of a `serve --workers` fleet: stopAll kills those still alive, so a fleet a failed test left never outlives its file */
    trackWorkers: (...pids: number[]): void => void workerPids.push(...pids),
    stopAll: async (signal?: NodeJS.Signals): Promise<void> => {
      await Promise.all(servers.splice(0).map((s) => s.stop(signal)));
      for (const pid of workerPids.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    },
  };
};

/**
 * For a file of server tests: a client of the test Redis and the servers the
 * file starts, all gone after the file (SIGKILL: a fleet a failed test left
 * must not outlive it), the test MySQL pool closed.
 */
export const serversOfFile = () => {
  const redis = newRedis();
  const tracker = serverTracker();
  afterAll(async () => {
    await tracker.stopAll('SIGKILL');
    redis.disconnect();
    await (await testMysql()).end();
  });
  return { redis, ...tracker };
};

/**
 * Connections kept open between requests, as a crowd's browsers keep them:
 * the suite sends hundreds of thousands of buys, and node:http on a kept
 * connection costs a fraction of what fetch costs per request.
 */
const keptAlive = new Agent({ keepAlive: true });

/** A POST of JSON on a kept-alive connection; its answer must be a JSON object. */
export const postJson = async (url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
  const answer = await sendHttp(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    agent: keptAlive,
    timeoutMs: 60_000,
  });
  if (answer.body === null) throw new Error(`${url} answered ${answer.status} with no JSON object: ${answer.text.slice(0, 200)}`);
  return { status: answer.status, body: answer.body };
};

/** Polls `check` until it returns true or the deadline passes; no fixed sleeps. */
export const waitFor = async (check: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** The value of one sample line of the Prometheus text, e.g. `seckill_reserve_requests_total{outcome="OK"}`; 0 when absent. */
export const metricValue = (text: string, sample: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
};

/** GET /metrics of a process (a server, or a relay or consumer's --metrics-port); throws unless it answers 200. */
export const scrapeMetrics = async (url: string): Promise<string> => {
  const answer = await sendHttp(`${url}/metrics`);
  if (answer.status !== 200) throw new Error(`GET ${url}/metrics answered ${answer.status}`);
  return answer.text;
};

// --- raw HTTP for the gateway tests -----------------------------------------

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** the body as a JSON object, or null when it is not one */
  body: Record<string, unknown> | null;
}

/** A /health answer that reports `down` down and the other store up (503). */
export const expectHealthDown = (health: HttpAnswer, down: 'redis' | 'mysql'): void => {
  expect(health.status).toBe(503);
  expect(health.body).toMatchObject({ ok: false, [down === 'redis' ? 'mysql' : 'redis']: 'up' });
  expect(health.body![down]).toMatch(/^down/);
};

/**
 * One request (node:http), on a connection of its own unless `agent` keeps
 * some, the body sent byte for byte as given. Unlike fetch it sends any
 * method, header or invalid UTF-8, and it resolves on the answer even when
 * the server closes right after it. An answer of a `seckill serve` that
 * openapi.json does not describe rejects (openapi.ts).
 */
export const sendHttp = (
  url: string,
  options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; timeoutMs?: number; agent?: Agent | false } = {},
): Promise<HttpAnswer> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown> | null = null;
          try {
            const parsed: unknown = JSON.parse(text);
            if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
          } catch {
            // not JSON: body stays null, text says what came
          }
          const answer = { status: res.statusCode!, headers: res.headers, text, body };
          const mismatch = answerMismatch(url, options.method ?? 'GET', options.body, answer);
          if (mismatch) reject(mismatch);
          else resolve(answer);
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });

export interface HeldRequest {
  /** resolves once the server has read the head: it said 100 Continue */
  accepted: Promise<void>;
  /** sends the body; resolves with the answer, rejects on a connection error */
  finish(): Promise<{ status: number; body: Record<string, unknown> }>;
  req: ClientRequest;
}

/**
 * A POST /reserve the server has accepted and started on, held open by
 * withholding its body. `Expect: 100-continue` makes the server say when it
 * has read the head, so "in flight" is known, not guessed from timing.
 */
export const holdReserve = (url: string, body: unknown, agent: Agent | false): HeldRequest => {
  const payload = JSON.stringify(body);
  const req = httpRequest(`${url}/reserve`, {
    method: 'POST',
    agent,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), expect: '100-continue' },
  });
  const answer = new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('error', reject);
      res.on('end', () => {
        const mismatch = answerMismatch(`${url}/reserve`, 'POST', payload, { status: res.statusCode!, headers: res.headers, text });
        if (mismatch) reject(mismatch);
        else resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> });
      });
    });
  });
  answer.catch(() => {}); // observed through finish()
  const accepted = new Promise<void>((resolve, reject) => {
    req.once('continue', () => resolve());
    req.once('error', reject);
  });
  req.flushHeaders();
  return {
    accepted,
    req,
    finish: () => {
      req.end(payload);
      return answer;
    },
  };
};

/** Alive and not a zombie: an exited process whose parent (often init) has not reaped it yet has stopped. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !existsSync(`/proc/${pid}/stat`) || !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
};
