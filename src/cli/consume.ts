import type { Command } from 'commander';
import { intOption, loadConnections, PAY_TIMEOUT_SEC } from '../config.js';
import { startCompensation } from '../queue/compensation.js';
import { serveMetrics } from '../metrics-server.js';
import { createPipelineMetrics } from '../queue/metrics.js';
import { openQueue } from '../queue/open-transport.js';
import { startOrderConsumer } from '../queue/order-consumer.js';
import { startSweeper } from '../payment/sweeper.js';
import { CLIENT_IDS, GROUPS, TOPICS } from '../queue/names.js';
import { connectRedis } from '../redis/connection.js';
import { Reservations } from '../sale/reservations.js';
import { openMysql } from '../store/mysql.js';
import { connectWaiting, logLine, onShutdown, pipelineFlags, queueConfig, replicaAcksOf, streamOptionsOf, type PipelineFlags } from './common.js';
import { runAction } from './exit.js';

interface ConsumeFlags extends PipelineFlags {
  payTimeout: number;
  sweepInterval: number;
  sweeper: boolean;
}

const consume = async (flags: ConsumeFlags): Promise<void> => {
  const config = queueConfig(flags);
  const { redisUrl, mysqlUrl } = loadConnections(flags);
  const redis = await connectWaiting('Redis', () => connectRedis(redisUrl, { enableOfflineQueue: true }), flags.wait);
  const mysql = await connectWaiting('MySQL', () => openMysql(mysqlUrl), flags.wait);
  const streams = streamOptionsOf(flags);
  const replicaAcks = replicaAcksOf(redis, flags);
  const queue = await connectWaiting(
    config.queue === 'kafka' ? 'Kafka' : 'the Redis queue',
    () => openQueue(config, redis, streams, CLIENT_IDS.consumer, replicaAcks),
    flags.wait,
  );
  const metrics = createPipelineMetrics(async () => [
    { topic: TOPICS.orders, group: GROUPS.orders, messages: await queue.lag(TOPICS.orders, GROUPS.orders) },
    { topic: TOPICS.deadLetters, group: GROUPS.compensation, messages: await queue.lag(TOPICS.deadLetters, GROUPS.compensation) },
  ]);
  const metricsServer = await serveMetrics(metrics, flags.metricsPort);
  const reservations = new Reservations(redis, { replicaAcks });
  const deps = { transport: queue, mysql, redis, reservations, metrics, log: logLine };
  const orders = await startOrderConsumer({
    ...deps,
    payTimeoutMs: flags.payTimeout * 1000,
    transactions: { size: flags.batchSize, concurrency: flags.concurrency },
  });
  const compensation = await startCompensation(deps);
  const sweeper = flags.sweeper ? startSweeper(deps, flags.sweepInterval) : null;
  logLine(
    `seckill consume: ${config.queue === 'kafka' ? `Kafka at ${config.kafkaBrokers.join(',')}` : 'Redis outbox streams'} → MySQL; pay timeout ${flags.payTimeout}s (pid ${process.pid})`,
  );
  if (flags.json) process.stdout.write(`${JSON.stringify({ consuming: config.queue, pid: process.pid })}\n`);

  onShutdown(async () => {
    await Promise.all([orders.stop(), compensation.stop(), sweeper?.stop()]);
    // With --queue redis the queue is this Redis connection: its readers leave
    // their consumer groups through it, so it is closed only after the queue.
    await queue.close().catch((error: Error) => logLine(`queue not closed cleanly: ${error.message}`));
    replicaAcks?.close();
    await Promise.allSettled([redis.quit(), mysql.end(), new Promise((r) => (metricsServer ? metricsServer.close(r) : r(null)))]);
  });
};

export const registerConsume = (program: Command): void => {
  pipelineFlags(
    program
      .command('consume')
      .description('Write orders to MySQL in batched, idempotent transactions; dead-letter and compensate what cannot be applied; cancel unpaid orders.'),
  )
    .option(
      '--pay-timeout <seconds>',
      'an order not paid this long after it was written to MySQL is cancelled and its stock resold',
      intOption('--pay-timeout', 1),
      PAY_TIMEOUT_SEC,
    )
    .option('--sweep-interval <ms>', 'how often the payment-timeout sweeper looks for expired orders', intOption('--sweep-interval', 50), 1_000)
    .option('--no-sweeper', 'do not run the payment-timeout sweeper in this process')
    .addHelpText(
      'after',
      `
Examples:
  $ seckill consume
  $ seckill consume --queue redis --pay-timeout 60
  $ KAFKA_BROKERS=10.0.0.7:9092 seckill consume --metrics-port 9466

Orders go to MySQL in transactions of --batch-size, --concurrency at once:
orders inserted (a redelivered order changes nothing), one guarded UPDATE per
SKU. Offsets are committed only after every transaction of the batch committed. Orders MySQL refuses go to ${TOPICS.deadLetters} with the reason, and
compensation returns their stock to sale. While MySQL is down, batches are
retried with backoff and nothing is acknowledged: the lag grows, nothing is lost,
each failed attempt is logged and counted (seckill_consumer_retries_total), and
a transaction MySQL stops answering is given up after 10 s and retried. The
process does not exit; it resumes by itself when MySQL answers again.`,
    )
    .action(runAction(consume));
};
