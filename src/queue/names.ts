/**
 * Every name the pipeline uses on the queue, in one place: topics, consumer
 * groups, client ids. With Kafka they are prefixed by `--topic-prefix`.
 */

export const TOPICS = {
  orders: 'seckill.orders',
  deadLetters: 'seckill.orders.dlq',
} as const;

export type Topic = (typeof TOPICS)[keyof typeof TOPICS];

/** Consumer groups: the relay's on the outbox streams, the consumer's and compensation's on the topics. */
export const GROUPS = {
  relay: 'seckill-relay',
  orders: 'seckill-orders',
  compensation: 'seckill-compensation',
} as const;

/** Kafka client ids, by process. */
export const CLIENT_IDS = {
  relay: 'seckill-relay',
  consumer: 'seckill-consumer',
  reconcile: 'seckill-reconcile',
} as const;
