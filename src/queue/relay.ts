import { crashPoint } from '../crash-points.js';
import { groupBy } from '../group-by.js';
import { EVENT_SEPARATOR, eventCount } from '../sale/order-event.js';
import type { PipelineMetrics } from './metrics.js';
import { GROUPS, TOPICS } from './names.js';
import type { Envelope, ReceivedBatch, Subscription, Transport } from './transport.js';

/**
 * Most bytes of order events one Kafka message carries. Outbox entries of a
 * SKU (each one reserve.lua call's events) are joined into messages this
 * large: the cost of a Kafka message (encoding, partitioning, checksums,
 * decoding in the consumer) is paid per message, and a few hundred events
 * share one. Four fit in one produce request (see kafka.ts).
 */
export const BUNDLE_BYTES = 128 * 1024;

/** The batch's entries as Kafka messages: per SKU (the key), consecutive entries joined, each message within BUNDLE_BYTES (a larger entry goes alone). */
export const bundleEntries = (batch: Pick<ReceivedBatch, 'keys' | 'values'>): Envelope[] => {
  const envelopes: Envelope[] = [];
  const indexes = batch.values.map((_, i) => i);
  for (const [key, ofKey] of groupBy(indexes, (i) => batch.keys[i])) {
    let lines: string[] = [];
    let bytes = 0;
    for (const i of ofKey) {
      const value = batch.values[i];
      if (lines.length > 0 && bytes + value.length + 1 > BUNDLE_BYTES) {
        envelopes.push({ key, value: lines.join(EVENT_SEPARATOR) });
        lines = [];
        bytes = 0;
      }
      lines.push(value);
      bytes += value.length + 1;
    }
    if (lines.length > 0) envelopes.push({ key, value: lines.join(EVENT_SEPARATOR) });
  }
  return envelopes;
};

/**
 * The outbox relay: reads the SKUs' outbox streams (a Redis consumer group)
 * and produces their order events to Kafka, keyed by SKU, bundled into
 * messages of many events. An entry is acknowledged
 * and trimmed only after Kafka acknowledged it (acks from all in-sync
 * replicas), and the entries of a relay that died are claimed by the next:
 * at least once, never zero. Duplicates are the consumer's to absorb.
 */
export const startRelay = (outbox: Transport, kafka: Transport, metrics: PipelineMetrics): Promise<Subscription> =>
  outbox.subscribe(TOPICS.orders, GROUPS.relay, async (batch) => {
    crashPoint('relay:after-read');
    await kafka.publish(TOPICS.orders, bundleEntries(batch));
    crashPoint('relay:after-publish');
    metrics.relayed.inc(batch.values.reduce((n, value) => n + eventCount(value), 0));
  });
