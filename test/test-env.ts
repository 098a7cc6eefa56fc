/**
 * Where the tests keep their state: Redis database 15 and the MySQL database
 * seckill_test, both wiped when the suite starts (global-setup.ts), so a
 * developer's own sale in db 0 / seckill is never touched.
 */
export const TEST_DEFAULTS = {
  REDIS_URL: process.env.SECKILL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
  MYSQL_URL: process.env.SECKILL_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/seckill_test',
  /** the broker the suite starts with the project's own command, unless KAFKA_BROKERS names one */
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
};
