import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { loadConnections } from '../src/config.js';
import { allSkuKeys } from '../src/redis/keys.js';
import { loadSkuIntoRedis, type SkuDefinition } from '../src/sale/catalog.js';
import { replaceInventory } from '../src/store/inventory.js';
import { openMysql } from '../src/store/mysql.js';

/**
 * Shared by the tests: real Redis and MySQL at the addresses of REDIS_URL and
 * MYSQL_URL (defaults: the machine's own), SKU names of their own so that
 * test files can run in parallel.
 */
export const connections = loadConnections({}, { ...process.env, MYSQL_URL: process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/seckill_test' });

export const uniqueSku = (label: string): string => `t-${label}-${randomBytes(4).toString('hex')}`;

export const newRedis = (): Redis => new Redis(connections.redisUrl, { enableAutoPipelining: true });

let pool: Promise<Pool> | null = null;
export const testMysql = (): Promise<Pool> => (pool ??= openMysql(connections.mysqlUrl));

export const preloadSku = async (redis: Redis, def: Partial<SkuDefinition> & { sku: string; stock: number }): Promise<SkuDefinition> => {
  const full: SkuDefinition = { limit: 1, startsAt: null, endsAt: null, ...def };
  await replaceInventory(await testMysql(), full);
  await loadSkuIntoRedis(redis, full);
  return full;
};

/** Every Redis key and MySQL row of a SKU, to compare before and after. */
export const snapshotSku = async (redis: Redis, sku: string): Promise<unknown> => {
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

export interface RunningServer {
  url: string;
  process: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `seckill serve` as its own process on a free port (the built CLI: `npm test` builds first). */
export const startServer = (args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/seckill', 'serve', '--port', '0', '--json', ...args], {
      env: { ...process.env, REDIS_URL: connections.redisUrl, MYSQL_URL: connections.mysqlUrl, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.once('exit', (code) => reject(new Error(`seckill serve exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      const { listening } = JSON.parse(line) as { listening: string };
      resolve({
        url: listening,
        process: child,
        stop: (signal = 'SIGTERM') => {
          child.kill(signal);
          return exited;
        },
      });
    });
  });

export const postJson = async (url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/** Polls `check` until it returns true or the deadline passes; no fixed sleeps. */
export const waitFor = async (check: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
