import { hostname } from 'node:os';
import type { RedisClient } from '../redis/connection.js';
import type { ReplicaAcks } from '../redis/replica-acks.js';
import type { QueueConfig } from '../config.js';
import { redisTransport } from './redis-streams.js';
import type { Transport } from './transport.js';

export interface StreamOptions {
  batchSize: number;
  claimAfterMs: number;
  /** batches handled at once by this process */
  concurrency: number;
  /** how long a trickle of entries or messages may gather before it is handled */
  lingerMs: number;
}

/**
 * The Redis-streams side: the outbox (always) and, with `--queue redis`, the
 * whole queue; with replica acks, what it reads and writes is used only once
 * a replica holds it.
 */
export const openStreams = (redis: RedisClient, options: StreamOptions, replicaAcks: ReplicaAcks | null = null): Transport =>
  redisTransport(
    redis,
    {
      count: options.batchSize,
      claimAfterMs: options.claimAfterMs,
      idleMs: 20,
      lingerMs: options.lingerMs,
      consumer: `${hostname()}-${process.pid}`,
      concurrency: options.concurrency,
    },
    replicaAcks,
  );

/**
 * The queue orders travel on between relay and consumers. The Kafka client is
 * loaded only when Kafka is the queue: importing it costs about 0.4 s of
 * start-up, which every seckill process (and every restart in a deploy) would
 * pay otherwise.
 */
export const openQueue = async (
  config: QueueConfig,
  redis: RedisClient,
  streams: StreamOptions,
  clientId: string,
  replicaAcks: ReplicaAcks | null = null,
): Promise<Transport> =>
  config.queue === 'redis'
    ? Promise.resolve(openStreams(redis, streams, replicaAcks))
    : (await import('./kafka.js')).connectKafka({
        clientId,
        ...config,
        brokers: config.kafkaBrokers,
        concurrency: streams.concurrency,
        lingerMs: streams.lingerMs,
      });
