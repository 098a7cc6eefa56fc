import { type Command, Option } from 'commander';
import type { RedisClient } from '../redis/connection.js';
import type { Pool } from 'mysql2/promise';
import { intOption, loadConnections, QUEUE_DEFAULTS, queueConfigOf, type QueueConfig, type QueueKind } from '../config.js';
import { connectRedis } from '../redis/connection.js';
import { ReplicaAcks } from '../redis/replica-acks.js';
import { openMysql } from '../store/mysql.js';
import type { StreamOptions } from '../queue/open-transport.js';
import { waitForDependency } from '../wait-for-dependency.js';

/** The connection flags every command that touches storage takes. */
export const connectionFlags = (command: Command): Command =>
  command
    .option('--redis-url <url>', 'Redis address (env REDIS_URL, default redis://127.0.0.1:6379)')
    .option('--mysql-url <url>', 'MySQL address and database (env MYSQL_URL, default mysql://root@127.0.0.1:3306/seckill)')
    .option('--json', 'print one JSON object on stdout, for machines');

/**
 * Runs a one-shot command's work with both stores open (addresses from its
 * flags or env vars), and closes them whatever happens.
 */
export const withStores = async <T>(
  flags: { redisUrl?: string; mysqlUrl?: string },
  work: (stores: { redis: RedisClient; mysql: Pool }) => Promise<T>,
): Promise<T> => {
  const { redisUrl, mysqlUrl } = loadConnections(flags);
  const redis = await connectRedis(redisUrl);
  const mysql = await openMysql(mysqlUrl).catch((error) => {
    redis.disconnect();
    throw error;
  });
  try {
    return await work({ redis, mysql });
  } finally {
    redis.disconnect();
    await mysql.end();
  }
};

/** The flag of long-running processes (serve, relay, consume): how long to wait for a dependency that is down at start. */
export const waitFlag = (command: Command): Command =>
  command.option(
    '--wait <seconds>',
    'at start, wait this long for Redis, MySQL and Kafka to answer (a supervisor restarting it during an outage); 0 = fail at once. A host that does not resolve or refused credentials fail at once',
    intOption('--wait', 0, 3_600),
    60,
  );

/** Connects to a dependency at start, waiting out an outage of up to `--wait` seconds (see wait-for-dependency.ts). */
export const connectWaiting = <T>(name: string, connect: () => Promise<T>, waitSec: number): Promise<T> =>
  waitForDependency(name, connect, { timeoutMs: waitSec * 1000, log: logLine });

/** Flags of the pipeline processes (relay, consume). */
/**
 * `--replica-acks N` and `--replica-ack-timeout`: what serve answers, and
 * what relay and consume act on, only once N Redis replicas hold it.
 */
export const replicaAckFlags = (command: Command, what: string): Command =>
  command
    .option(
      '--replica-acks <n>',
      `Redis replicas that must hold ${what} (WAIT on connections of its own, then a look on that master): a failover then loses none of it`,
      intOption('--replica-acks', 0, 5),
      0,
    )
    .option(
      '--replica-ack-timeout <ms>',
      'how long a write waits for --replica-acks before it counts as not confirmed',
      intOption('--replica-ack-timeout', 1, 10_000),
      200,
    );

/** The confirmations the flags ask for, on `redis`; null without --replica-acks. */
export const replicaAcksOf = (redis: RedisClient, flags: { replicaAcks: number; replicaAckTimeout: number }): ReplicaAcks | null =>
  flags.replicaAcks > 0 ? new ReplicaAcks(redis, flags.replicaAcks, flags.replicaAckTimeout) : null;

export const pipelineFlags = (command: Command): Command =>
  replicaAckFlags(
    waitFlag(connectionFlags(command)),
    'an outbox entry before the relay forwards it, and a persisted mark or a release before the consumer goes on',
  )
    .addOption(
      new Option('--queue <kind>', 'kafka, or redis: the consumer reads the outbox streams itself, no Kafka').choices(['kafka', 'redis']).default('kafka'),
    )
    .option('--kafka-brokers <list>', 'Kafka bootstrap servers, host:port,… (env KAFKA_BROKERS, default 127.0.0.1:9092)')
    .option('--partitions <n>', 'partitions of the topics when they are created', intOption('--partitions', 1, 1000), QUEUE_DEFAULTS.partitions)
    .option(
      '--replication-factor <n>',
      'replication factor of the topics when they are created (default: the brokers in the cluster, up to 3; min.insync.replicas 2 from 3 on)',
      intOption('--replication-factor', 1, 10),
    )
    .option('--topic-prefix <prefix>', 'prefix of topic and consumer group names, to share a cluster (env SECKILL_TOPIC_PREFIX)')
    .option(
      '--session-timeout <ms>',
      'Kafka: how long before a consumer that died loses its partitions to the others',
      intOption('--session-timeout', 6_000, 300_000),
      QUEUE_DEFAULTS.sessionTimeoutMs,
    )
    .option(
      '--concurrency <n>',
      'work one process does at once: outbox readers (relay, Redis queue), Kafka partitions, and MySQL transactions per delivered batch (consume)',
      intOption('--concurrency', 1, 64),
      2,
    )
    .option(
      '--batch-size <n>',
      'outbox entries read at a time (each holds the order events of one reserve.lua call), and orders per MySQL transaction (consume)',
      intOption('--batch-size', 1, 10_000),
      500,
    )
    .option(
      '--linger <ms>',
      'how long a trickle of orders may gather before it is relayed or written (fewer, larger reads, produce requests and transactions during a sale; 0 = at once)',
      intOption('--linger', 0, 5_000),
      50,
    )
    .option(
      '--claim-after <ms>',
      'take over outbox entries another reader has held unacknowledged this long (it died)',
      intOption('--claim-after', 100),
      30_000,
    )
    .option('--metrics-port <n>', 'serve Prometheus /metrics on this port (0 = off)', intOption('--metrics-port', 0, 65535), 0);

export interface PipelineFlags {
  wait: number;
  replicaAcks: number;
  replicaAckTimeout: number;
  queue: QueueKind;
  kafkaBrokers?: string;
  partitions: number;
  replicationFactor?: number;
  topicPrefix?: string;
  sessionTimeout: number;
  batchSize: number;
  claimAfter: number;
  concurrency: number;
  linger: number;
  metricsPort: number;
  json?: boolean;
  redisUrl?: string;
  mysqlUrl?: string;
}

export const queueConfig = (flags: PipelineFlags): QueueConfig => queueConfigOf(flags);

/** How relay and consume read and batch, from their flags. */
export const streamOptionsOf = (flags: PipelineFlags): StreamOptions => ({
  batchSize: flags.batchSize,
  claimAfterMs: flags.claimAfter,
  concurrency: flags.concurrency,
  lingerMs: flags.linger,
});

/** Log line of a long-running process: time first, on stderr. */
export const logLine = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);

/**
 * Runs `reload` on every SIGHUP, the usual "read your files again" of a
 * daemon — and, being handled, SIGHUP no longer ends the process (its default).
 */
export const onReload = (reload: () => Promise<void>): void => {
  process.on('SIGHUP', () => {
    reload().catch((error: Error) => logLine(`SIGHUP: ${error.message}`));
  });
};

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0. */
export const onShutdown = (stop: () => Promise<void>): void => {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logLine(`${signal}: stopping`);
    stop().then(
      () => process.exit(0),
      (error: Error) => {
        logLine(`unclean stop: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
};
