/**
 * Where the tests keep their state: Redis database 15 and the MySQL database
 * seckill_test, both wiped when the suite starts (global-setup.ts), so a
 * developer's own sale in db 0 / seckill is never touched. The `redis-cluster`
 * project runs the core files again with SECKILL_TEST_REDIS_URL naming the
 * suite's own local Redis Cluster (started by global-setup.ts, wiped too).
 */

/**
 * The suite's Redis Cluster: 3 masters on ports of its own (7100 on, or
 * SECKILL_TEST_CLUSTER_PORT, so two checkouts can run their suites side by
 * side), state under .seckill/, apart from a developer's cluster on 7000.
 */
const clusterPort = Number(process.env.SECKILL_TEST_CLUSTER_PORT ?? 7100);
export const TEST_CLUSTER = {
  port: clusterPort,
  masters: 3,
  dir: `.seckill/test-redis-cluster-${clusterPort}`,
  url: `redis-cluster://${[0, 1, 2].map((i) => `127.0.0.1:${clusterPort + i}`).join(',')}`,
};

export const TEST_DEFAULTS = {
  REDIS_URL: process.env.SECKILL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
  MYSQL_URL: process.env.SECKILL_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/seckill_test',
  /** the broker the suite starts with the project's own command, unless KAFKA_BROKERS names one */
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
};
