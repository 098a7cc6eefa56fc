import { cpus, release, totalmem, type } from 'node:os';
import type { Pool } from 'mysql2/promise';
import { KAFKA_VERSION } from '../../queue/broker.js';
import { redisServerVersion, type RedisClient } from '../../redis/connection.js';
import { mysqlServerVersion } from '../../store/mysql.js';
import { SECKILL_VERSION } from '../../version.js';
import { localBroker } from '../faults/targets.js';

/**
 * What a run ran on, for the report: figures are only comparable between
 * runs of the same machine and versions, so the report says which they were.
 */
export interface RunEnvironment {
  machine: { cores: number; cpu: string; memoryGb: number; os: string };
  versions: {
    seckill: string;
    node: string;
    redis: string;
    mysql: string;
    /** null when the run used no Kafka; a cluster that KAFKA_BROKERS names is not asked */
    kafka: string | null;
  };
}

export const describeEnvironment = async (stores: { redis: RedisClient; mysql: Pool }, kafka: { used: boolean; brokers: string }): Promise<RunEnvironment> => {
  const [redis, mysql, broker] = await Promise.all([
    redisServerVersion(stores.redis),
    mysqlServerVersion(stores.mysql),
    kafka.used ? localBroker(kafka.brokers) : null,
  ]);
  const processors = cpus();
  return {
    machine: {
      cores: processors.length,
      cpu: processors[0]?.model.trim() ?? 'unknown',
      memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      os: `${type()} ${release()}`,
    },
    versions: {
      seckill: SECKILL_VERSION,
      node: process.version,
      redis,
      mysql,
      kafka: !kafka.used ? null : broker ? `${KAFKA_VERSION} (the local broker, seckill kafka)` : `not read (the cluster at ${kafka.brokers})`,
    },
  };
};
