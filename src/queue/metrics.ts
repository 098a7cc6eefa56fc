import { Counter, Gauge, Histogram } from 'prom-client';
import { scrapedRegistry } from '../metrics-server.js';

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
    deadLetters: new Counter({
      name: 'seckill_dead_letters_total',
      help: 'Messages sent to the dead-letter queue, by reason',
      labelNames: ['reason'],
      registers: r,
    }),
    releases: new Counter({ name: 'seckill_releases_total', help: 'release.lua calls by why and outcome', labelNames: ['why', 'outcome'], registers: r }),
    retries: new Counter({
      name: 'seckill_consumer_retries_total',
      help: 'Failed attempts to apply a batch (MySQL or Redis down)',
      labelNames: ['stage'],
      registers: r,
    }),
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
