import { crashPoint } from '../crash-points.js';
import type { PipelineMetrics } from './metrics.js';
import { GROUPS, TOPICS } from './names.js';
import type { Subscription, Transport } from './transport.js';

/**
 * The outbox relay: reads the SKUs' outbox streams (a Redis consumer group)
 * and produces each entry to Kafka, keyed by SKU. An entry is acknowledged
 * and trimmed only after Kafka acknowledged it (acks from all in-sync
 * replicas), and the entries of a relay that died are claimed by the next:
 * at least once, never zero. Duplicates are the consumer's to absorb.
 */
export const startRelay = (outbox: Transport, kafka: Transport, metrics: PipelineMetrics): Promise<Subscription> =>
  outbox.subscribe(TOPICS.orders, GROUPS.relay, async (batch) => {
    crashPoint('relay:after-read');
    await kafka.publish(
      TOPICS.orders,
      batch.values.map((value, i) => ({ key: batch.keys[i]!, value })),
    );
    crashPoint('relay:after-publish');
    metrics.relayed.inc(batch.values.length);
  });
