import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis, type Cluster } from 'ioredis';
import mysql from 'mysql2/promise';
import { connectRedis } from '../src/redis/connection.js';
import { TEST_CLUSTER, TEST_DEFAULTS } from './test-env.js';

const seckill = (...args: string[]) => promisify(execFile)(process.execPath, ['bin/seckill', ...args], { env: { ...process.env, KAFKA_BROKERS: '' } });

/**
 * Starts the suite's Redis Cluster with the project's own command (a no-op
 * when it runs) and empties every master; resolves with how to stop it again
 * (nothing, when it was running before).
 */
const startTestCluster = async (): Promise<() => Promise<void>> => {
  const { stdout } = await seckill(
    'redis-cluster',
    'start',
    '--port',
    String(TEST_CLUSTER.port),
    '--masters',
    String(TEST_CLUSTER.masters),
    '--dir',
    TEST_CLUSTER.dir,
    '--json',
  );
  const started = JSON.parse(stdout) as { alreadyRunning: boolean };
  // Ready once connected: its list of masters is empty until the slot map is read.
  const cluster = (await connectRedis(TEST_CLUSTER.url)) as Cluster;
  try {
    await Promise.all(cluster.nodes('master').map((node) => node.flushall()));
  } finally {
    cluster.disconnect();
  }
  return async () => {
    if (!started.alreadyRunning) await seckill('redis-cluster', 'stop', '--dir', TEST_CLUSTER.dir);
  };
};

/**
 * Once per `npm test`: wipe the test databases, start the suite's Redis
 * Cluster and Kafka with the project's own commands (Kafka unless
 * KAFKA_BROKERS names a cluster; either not when it runs already). What this
 * setup started is stopped at the end.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const redis = new Redis(TEST_DEFAULTS.REDIS_URL);
  await redis.flushdb();
  await redis.quit();
  const url = new URL(TEST_DEFAULTS.MYSQL_URL);
  const conn = await mysql.createConnection({ host: url.hostname, port: Number(url.port || 3306), user: url.username || 'root', password: url.password });
  await conn.query(`DROP DATABASE IF EXISTS \`${url.pathname.slice(1)}\``);
  await conn.end();
  const stopCluster = await startTestCluster();

  if (process.env.KAFKA_BROKERS) return stopCluster;
  const { stdout } = await seckill('kafka', 'start', '--json');
  const started = JSON.parse(stdout) as { alreadyRunning: boolean };
  return async () => {
    await stopCluster();
    if (!started.alreadyRunning) await seckill('kafka', 'stop');
  };
}
