/**
 * The Kafka adapter: the only module that imports kafkajs (in maintenance
 * mode upstream), so the client can be swapped by rewriting this file alone.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type EachBatchPayload, type Producer } from 'kafkajs';
import { TOPICS, type Topic } from './names.js';
import type { BatchHandler, Envelope, Subscription, Transport } from './transport.js';

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  partitions: number;
  replicationFactor: number;
  /** how long the group waits for a consumer that stopped heartbeating (it died) before handing its partitions on */
  sessionTimeoutMs: number;
  /** partitions one consumer handles at once (one SKU's orders stay in one partition, in order) */
  concurrency: number;
  /** prepended to every topic and consumer group name, so several sales (or test runs) can share a cluster */
  topicPrefix: string;
  /** how long the broker may hold a fetch to gather MIN_FETCH_BYTES (a trickle then makes one batch per linger, not one per message) */
  lingerMs: number;
}

/** With a linger, a fetch is answered once this much is there, or after lingerMs. */
const MIN_FETCH_BYTES = 64 * 1024;

/** Without one, a fetch is answered as soon as anything is there, or empty after this long (an idle consumer asks 5 times a second). */
const IDLE_FETCH_WAIT_MS = 200;

const fetchShape = (lingerMs: number) =>
  lingerMs > 0 ? { minBytes: MIN_FETCH_BYTES, maxWaitTimeInMs: lingerMs } : { minBytes: 1, maxWaitTimeInMs: IDLE_FETCH_WAIT_MS };

/**
 * One produce request carries at most this many messages and bytes: a
 * partition's share of a request is one record batch, which the broker
 * refuses past `message.max.bytes` (1 MB by default).
 */
const PUBLISH_CHUNK = { messages: 500, bytes: 512 * 1024 };
/** Pause before a consumer kafkajs gave up on is replaced. */
const RESTART_AFTER_MS = 2_000;

/** Kafka's error types of a cluster settling: a coordinator or a partition leader not (yet) there, a topic not yet known to the broker asked. */
const SETTLING = /COORDINATOR|LEADER|UNKNOWN_TOPIC_OR_PARTITION/;

/** The Kafka error type of an error, or of the error kafkajs wrapped in it when it gave up retrying. */
const kafkaTypeOf = (error: unknown): string => {
  for (let e = error as { type?: string; originalError?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (e.type) return e.type;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return '';
};

/**
 * Retries an admin request while the cluster is settling: on a fresh broker,
 * or after a restart or a leader change, the group's coordinator takes a
 * moment to load and a partition's leader to be elected, and kafkajs's admin
 * gives up on those sooner (wrapping the error it met).
 */
export const whileKafkaSettles = async <T>(request: () => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (attempt >= 20 || !SETTLING.test(kafkaTypeOf(error))) throw error;
      await sleep(Math.min(1_000, 100 * attempt));
    }
  }
};

const stderrLogger =
  () =>
  ({ namespace, level, log }: { namespace: string; level: logLevel; log: { message: string } }) => {
    const name = level === logLevel.ERROR ? 'error' : 'warn';
    process.stderr.write(`${new Date().toISOString()} kafka ${name} [${namespace}] ${log.message}\n`);
  };

/** The prefixed name of a topic or group on this cluster. */
const naming = (prefix: string) => (name: string) => `${prefix}${name}`;

/** Attempts at creating the topics: a broker just started (or restarted) may answer that it does not host a partition it has just made. */
const TOPIC_ATTEMPTS = 10;

/**
 * Connects the admin client and creates the topics that are missing. A
 * retriable answer (a new topic's leader not known yet) is tried again; a
 * failure disconnects the admin, so the caller may try again with a new client.
 */
const connectAdmin = async (kafka: Kafka, options: KafkaOptions): Promise<Admin> => {
  const name = naming(options.topicPrefix);
  const admin = kafka.admin();
  try {
    await admin.connect();
    for (let attempt = 1; ; attempt++) {
      try {
        const existing = new Set(await admin.listTopics());
        const missing = Object.values(TOPICS)
          .map(name)
          .filter((t) => !existing.has(t));
        if (missing.length > 0) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((topic) => ({ topic, numPartitions: options.partitions, replicationFactor: options.replicationFactor })),
          });
        }
        return admin;
      } catch (error) {
        if (attempt >= TOPIC_ATTEMPTS || (error as { retriable?: boolean }).retriable !== true) throw error;
        await sleep(200 * attempt);
      }
    }
  } catch (error) {
    await admin.disconnect().catch(() => {}); // the connect error says why
    throw error;
  }
};

/**
 * The producer, connected on the first send. Idempotent: a retried send
 * after a lost ack is written once. It retries without end (kafkajs warns
 * otherwise): the callers hold their batch unacknowledged meanwhile, which is
 * the safe place to wait. A connect that failed (the broker down, or still
 * loading its coordinators after a restart) is forgotten, so the next send
 * connects afresh: kept, it would fail every send of this process for good.
 */
const lazyProducer = (kafka: Kafka) => {
  let producer: Promise<Producer> | null = null;
  return {
    get: (): Promise<Producer> => {
      producer ??= (async () => {
        const p = kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          createPartitioner: Partitioners.DefaultPartitioner,
          retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 5_000 },
        });
        await p.connect();
        return p;
      })();
      producer.catch(() => void (producer = null));
      return producer;
    },
    disconnect: async () => {
      if (producer) await (await producer.catch(() => null))?.disconnect();
    },
  };
};

/**
 * Consumers that live as long as their subscription: kafkajs restarts a
 * consumer that crashed on a retriable error itself, and stops one that
 * crashed on any other for good — that one is replaced here, after a pause,
 * so a broker restart never leaves a process that consumes nothing.
 */
const consumers = (kafka: Kafka, options: KafkaOptions) => {
  const name = naming(options.topicPrefix);
  const live = new Set<{ consumer: Consumer | null; stopped: boolean }>();

  const subscribe = async (topic: Topic, group: string, handler: BatchHandler): Promise<Subscription> => {
    const subscription: { consumer: Consumer | null; stopped: boolean } = { consumer: null, stopped: false };
    live.add(subscription);
    const start = async (): Promise<void> => {
      const consumer = kafka.consumer({ groupId: name(group), ...fetchShape(options.lingerMs), sessionTimeout: options.sessionTimeoutMs });
      subscription.consumer = consumer;
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart || subscription.stopped) return;
        process.stderr.write(
          `${new Date().toISOString()} kafka consumer of ${group} stopped by kafkajs (${payload.error.message}): starting a new one in ${RESTART_AFTER_MS} ms\n`,
        );
        const again = (): void =>
          void setTimeout(() => {
            if (!subscription.stopped) start().catch(again);
          }, RESTART_AFTER_MS);
        again();
      });
      await consumer.connect();
      await consumer.subscribe({ topic: name(topic), fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: options.concurrency,
        eachBatchAutoResolve: false,
        eachBatch: batchRunner(consumer, handler),
      });
    };
    await start();
    return {
      stop: async () => {
        subscription.stopped = true;
        await subscription.consumer?.stop();
      },
    };
  };

  return { subscribe, disconnect: () => Promise.allSettled([...live].flatMap(({ consumer }) => (consumer ? [consumer.disconnect()] : []))) };
};

/** Hands each batch to the handler, and only once its effects are durable moves this consumer's position, then the group's. */
const batchRunner =
  (consumer: Consumer, handler: BatchHandler) =>
  async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    await handler({
      values: batch.messages.map((m) => m.value?.toString('utf8') ?? ''),
      keys: batch.messages.map((m) => m.key?.toString('utf8') ?? ''),
      heartbeat: () => payload.heartbeat(),
      isRunning: () => payload.isRunning() && !payload.isStale(),
    });
    payload.resolveOffset(batch.lastOffset());
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
  };

/** Messages of `topic` not yet committed by `group`, over its partitions. */
const lagOf =
  (admin: Admin, prefix: string) =>
  async (topic: Topic, group: string): Promise<number> => {
    const name = naming(prefix);
    const [ends, committed] = await Promise.all([
      whileKafkaSettles(() => admin.fetchTopicOffsets(name(topic))),
      whileKafkaSettles(() => admin.fetchOffsets({ groupId: name(group), topics: [name(topic)] })),
    ]);
    const done = new Map(committed[0]?.partitions.map((p) => [p.partition, BigInt(p.offset)]) ?? []);
    let total = 0n;
    for (const p of ends) {
      const low = BigInt(p.low);
      const at = done.get(p.partition) ?? -1n;
      total += BigInt(p.high) - (at < low ? low : at);
    }
    return Number(total);
  };

/** Envelopes in produce requests of at most PUBLISH_CHUNK (a message larger than the bytes goes alone). */
const chunksOf = (envelopes: Envelope[]): Envelope[][] => {
  const chunks: Envelope[][] = [];
  let chunk: Envelope[] = [];
  let bytes = 0;
  for (const e of envelopes) {
    const size = e.key.length + e.value.length;
    if (chunk.length > 0 && (chunk.length >= PUBLISH_CHUNK.messages || bytes + size > PUBLISH_CHUNK.bytes)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(e);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
};

export const connectKafka = async (options: KafkaOptions): Promise<Transport> => {
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: stderrLogger,
    retry: { retries: 8, initialRetryTime: 200 },
  });
  const admin = await connectAdmin(kafka, options);
  const producer = lazyProducer(kafka);
  const subscriptions = consumers(kafka, options);
  const name = naming(options.topicPrefix);
  return {
    publish: async (topic: Topic, envelopes: Envelope[]) => {
      const p = await producer.get();
      for (const messages of chunksOf(envelopes)) await p.send({ topic: name(topic), acks: -1, messages });
    },
    subscribe: subscriptions.subscribe,
    lag: lagOf(admin, options.topicPrefix),
    close: async () => {
      await subscriptions.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
};
