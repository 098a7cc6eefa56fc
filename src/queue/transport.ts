/**
 * What the relay, the order consumer and compensation need from a queue,
 * whether it is Kafka (the default) or Redis streams (`--queue redis`, the
 * smallest set-up). Delivery is at least once in both: a batch whose handler
 * throws is delivered again; the consumers make it exactly-once in effect.
 */

import type { Topic } from './names.js';

export interface Envelope {
  key: string;
  value: string;
}

export interface ReceivedBatch {
  /** message values, in delivery order */
  values: string[];
  /** each message's key (the SKU for orders) */
  keys: string[];
  /** keeps the consumer's membership alive while a handler retries */
  heartbeat(): Promise<void>;
  /** false once the consumer is stopping: a retrying handler should give up (throw) */
  isRunning(): boolean;
}

/** Resolves when the batch is done (it is then acknowledged); throws to have it delivered again. */
export type BatchHandler = (batch: ReceivedBatch) => Promise<void>;

export interface Subscription {
  stop(): Promise<void>;
}

export interface Transport {
  publish(topic: Topic, envelopes: Envelope[]): Promise<void>;
  subscribe(topic: Topic, group: string, handler: BatchHandler): Promise<Subscription>;
  /** messages waiting for `group` on `topic` (consumer lag) */
  lag(topic: Topic, group: string): Promise<number>;
  close(): Promise<void>;
}
