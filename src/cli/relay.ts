import type { Command } from 'commander';
import { loadConnections } from '../config.js';
import { serveMetrics } from '../metrics-server.js';
import { createPipelineMetrics } from '../queue/metrics.js';
import { openQueue, openStreams } from '../queue/open-transport.js';
import { CLIENT_IDS, GROUPS, TOPICS } from '../queue/names.js';
import { startRelay } from '../queue/relay.js';
import { connectRedis } from '../redis/connection.js';
import { connectWaiting, logLine, onShutdown, pipelineFlags, queueConfig, replicaAcksOf, streamOptionsOf, type PipelineFlags } from './common.js';
import { runAction, UsageError } from './exit.js';

const relay = async (flags: PipelineFlags): Promise<void> => {
  const config = queueConfig(flags);
  if (config.queue === 'redis') throw new UsageError('with --queue redis there is nothing to relay: `seckill consume --queue redis` reads the outbox itself');
  const { redisUrl } = loadConnections(flags);
  const redis = await connectWaiting('Redis', () => connectRedis(redisUrl, { enableOfflineQueue: true }), flags.wait);
  const streamOptions = streamOptionsOf(flags);
  const replicaAcks = replicaAcksOf(redis, flags);
  const outbox = openStreams(redis, streamOptions, replicaAcks);
  const kafka = await connectWaiting('Kafka', () => openQueue(config, redis, streamOptions, CLIENT_IDS.relay), flags.wait);
  const metrics = createPipelineMetrics(async () => [{ topic: 'outbox', group: GROUPS.relay, messages: await outbox.lag(TOPICS.orders, GROUPS.relay) }]);
  const metricsServer = await serveMetrics(metrics, flags.metricsPort);
  const subscription = await startRelay(outbox, kafka, metrics);
  logLine(`seckill relay: outbox streams → Kafka topic ${TOPICS.orders} at ${config.kafkaBrokers.join(',')} (pid ${process.pid})`);
  if (flags.json) process.stdout.write(`${JSON.stringify({ relaying: TOPICS.orders, pid: process.pid })}\n`);

  onShutdown(async () => {
    await subscription.stop();
    replicaAcks?.close();
    await Promise.allSettled([kafka.close(), redis.quit(), new Promise((r) => (metricsServer ? metricsServer.close(r) : r(null)))]);
  });
};

export const registerRelay = (program: Command): void => {
  pipelineFlags(program.command('relay').description('Deliver the outbox (every reservation) from Redis streams to Kafka, at least once.'))
    .addHelpText(
      'after',
      `
Examples:
  $ seckill relay
  $ KAFKA_BROKERS=10.0.0.7:9092 seckill relay --metrics-port 9465

An outbox entry is acknowledged and trimmed only after Kafka acknowledged it;
entries a dead relay held are taken over after --claim-after ms. Run as many
relays as you like: they share the work through a Redis consumer group.`,
    )
    .action(runAction(relay));
};
