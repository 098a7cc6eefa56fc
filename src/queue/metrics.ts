import { Counter, Gauge, Histogram } from 'prom-client';
import { scrapedRegistry } from '../metrics-server.js';
import { REJECTION_REASONS } from '../store/order-batch.js';

/** Where a consumer process retries: applying a batch (mysql), marking it persisted (redis), sending dead letters, compensating, sweeping unpaid orders. */
export const RETRY_STAGES = ['mysql', 'redis', 'dead-letter', 'compensation', 'sweeper'] as const;

export type LagReading = { topic: string; group: string; messages: number };

/**
 * Metrics of the relay and consumer processes (the gateway has its own).
 * `readLag` is asked for queue lag at each scrape; when it fails (Kafka or
 * Redis down) the last values stay and the failure is counted: a scrape never
 * takes the process down.
 */
export const createPipelineMetrics = (readLag: () => Promise<LagReading[]> = () => Promise.resolve([])) => {
  const { registry, scrapeErrors } = scrapedRegistry();
  const r = [registry];
  const deadLetters = new Counter({
    name: 'seckill_dead_letters_total',
    help: 'Messages sent to the dead-letter queue, by reason',
    labelNames: ['reason'],
    registers: r,
  });
  const retries = new Counter({
    name: 'seckill_consumer_retries_total',
    help: 'Failed attempts to apply a batch (MySQL or Redis down)',
    labelNames: ['stage'],
    registers: r,
  });
  // The reasons MySQL refuses with, and every retry stage, exist from the start at 0: their graphs (and rate()) show 0, not "No data".
  // A dead letter for an event that does not parse has a reason of its own (INVALID_<field>), counted from its first.
  for (const reason of REJECTION_REASONS) deadLetters.labels(reason).inc(0);
  for (const stage of RETRY_STAGES) retries.labels(stage).inc(0);
  return {
    scrapeErrors,
    registry,
    relayed: new Counter({
      name: 'seckill_relay_messages_total',
      help: 'Order events delivered from the outbox to Kafka (many share one outbox entry and one Kafka message)',
      registers: r,
    }),
    persisted: new Counter({ name: 'seckill_orders_persisted_total', help: 'Orders written to MySQL', registers: r }),
    duplicates: new Counter({ name: 'seckill_orders_duplicate_total', help: 'Redelivered orders that changed nothing', registers: r }),
    batchSize: new Histogram({
      name: 'seckill_consumer_batch_size',
      help: 'Orders per MySQL transaction',
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2000],
      registers: r,
    }),
    deadLetters,
    releases: new Counter({ name: 'seckill_releases_total', help: 'release.lua calls by why and outcome', labelNames: ['why', 'outcome'], registers: r }),
    retries,
    lag: new Gauge({
      name: 'seckill_queue_lag',
      help: 'Messages (outbox entries, Kafka messages: each carries one or more order events) waiting for a group',
      labelNames: ['topic', 'group'],
      registers: r,
      async collect() {
        let readings: LagReading[];
        try {
          readings = await readLag();
        } catch {
          scrapeErrors.labels('lag').inc();
          return;
        }
        for (const { topic, group, messages } of readings) this.labels(topic, group).set(messages);
      },
    }),
  };
};

export type PipelineMetrics = ReturnType<typeof createPipelineMetrics>;
