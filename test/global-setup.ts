import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { TEST_DEFAULTS } from './test-env.js';

const seckill = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['bin/seckill', ...args], { env: { ...process.env, KAFKA_BROKERS: '' } });

/**
 * Once per `npm test`: wipe the test databases and start Kafka with the
 * project's own command (unless KAFKA_BROKERS names a cluster, or one is
 * running). A broker this setup started is stopped at the end.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const redis = new Redis(TEST_DEFAULTS.REDIS_URL);
  await redis.flushdb();
  await redis.quit();
  const url = new URL(TEST_DEFAULTS.MYSQL_URL);
  const conn = await mysql.createConnection({ host: url.hostname, port: Number(url.port || 3306), user: url.username || 'root', password: url.password });
  await conn.query(`DROP DATABASE IF EXISTS \`${url.pathname.slice(1)}\``);
  await conn.end();

  if (process.env.KAFKA_BROKERS) return async () => {};
  const { stdout } = await seckill('kafka', 'start', '--json');
  const started = JSON.parse(stdout) as { alreadyRunning: boolean };
  return async () => {
    if (!started.alreadyRunning) await seckill('kafka', 'stop');
  };
}
