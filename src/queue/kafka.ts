/**
 * The Kafka adapter: the only module that imports the Kafka client
 * (@platformatic/kafka), so the client can be swapped by rewriting this file
 * alone (partition-batches.ts, which turns its message stream into the
 * Transport's batches, knows no client). Producer, consumer group and admin
 * of one client stay together here, so a swap touches one file.
 */
import './kafka-on-node20.js';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Admin,
  compatibilityPartitioner,
  Consumer,
  kGetBootstrapConnection,
  ListOffsetTimestamps,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
  type Callback,
  type Connection,
  type MessagesStream,
} from '@platformatic/kafka';
import { TOPICS, type Topic } from './names.js';
import { PartitionBatches } from './partition-batches.js';
import type { BatchHandler, Envelope, Subscription, Transport } from './transport.js';

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  partitions: number;
  /** copies of each partition, for topics this adapter creates; absent: as many as the cluster has brokers, up to 3 */
  replicationFactor?: number;
  /** how long the group waits for a consumer that stopped heartbeating (it died) before handing its partitions on */
  sessionTimeoutMs: number;
  /** partitions one consumer handles at once (one SKU's orders stay in one partition, in order) */
  concurrency: number;
  /** prepended to every topic and consumer group name, so several sales (or test runs) can share a cluster */
  topicPrefix: string;
  /** how long the broker may hold a fetch to gather MIN_FETCH_BYTES (a trickle then makes one batch per linger, not one per message) */
  lingerMs: number;
  /**
   * How long a request may go unanswered before its connection is dropped
   * and the request sent again, to the partition's leader as the cluster
   * then names it (the client's default 30 s when absent). A broker that is
   * paused, not dead, holds its connections open: only this ends the wait.
   */
  requestTimeoutMs?: number;
}

/**
 * Replicas a topic gets and how many must hold a write before it is
 * acknowledged (acks=all): with 3 copies, 2, so one broker may die or be cut
 * off without losing or refusing an acknowledged write.
 */
export const topicReplication = (brokers: number, given?: number) => {
  const factor = given ?? Math.min(3, brokers);
  return { factor, minInsync: factor >= 3 ? 2 : 1 };
};

/** With a linger, a fetch is answered once this much is there, or after lingerMs. */
const MIN_FETCH_BYTES = 64 * 1024;

/** Without one, a fetch is answered as soon as anything is there, or empty after this long (an idle consumer asks 5 times a second). */
const IDLE_FETCH_WAIT_MS = 200;

const fetchShape = (lingerMs: number) =>
  lingerMs > 0 ? { minBytes: MIN_FETCH_BYTES, maxWaitTime: lingerMs } : { minBytes: 1, maxWaitTime: IDLE_FETCH_WAIT_MS };

/** The client's own request timeout, when none is given. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * One produce request carries at most this many messages and bytes: a
 * partition's share of a request is one record batch, which the broker
 * refuses past `message.max.bytes` (1 MB by default).
 */
const PUBLISH_CHUNK = { messages: 500, bytes: 512 * 1024 };

/** Pause before a consumer that died (its stream failed, or it gave up rejoining its group) is replaced. */
const RESTART_AFTER_MS = 2_000;

/** Kafka's error codes of a cluster settling: a coordinator or a partition leader not (yet) there, a topic not yet known to the broker asked. */
const SETTLING = /COORDINATOR|LEADER|UNKNOWN_TOPIC_OR_PARTITION/;

/** The Kafka error codes (e.g. NOT_COORDINATOR) in an error, and in the errors the client gathered in it over its own retries. */
const kafkaCodesOf = (error: unknown): string[] => {
  const codes: string[] = [];
  const visit = (e: unknown, depth: number): void => {
    if (!e || typeof e !== 'object' || depth > 5) return;
    const { apiId, errors, cause } = e as { apiId?: unknown; errors?: unknown; cause?: unknown };
    if (typeof apiId === 'string') codes.push(apiId);
    if (Array.isArray(errors)) for (const inner of errors) visit(inner, depth + 1);
    visit(cause, depth + 1);
  };
  visit(error, 0);
  return codes;
};

/**
 * Retries an admin request while the cluster is settling: on a fresh broker,
 * or after a restart or a leader change, the group's coordinator takes a
 * moment to load and a partition's leader to be elected, longer than the
 * client's own few retries (after which it throws what it met, gathered).
 */
export const whileKafkaSettles = async <T>(request: () => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (attempt >= 20 || !kafkaCodesOf(error).some((code) => SETTLING.test(code))) throw error;
      await sleep(Math.min(1_000, 100 * attempt));
    }
  }
};

const logLine = (line: string) => process.stderr.write(`${new Date().toISOString()} kafka ${line}\n`);

/** The prefixed name of a topic or group on this cluster. */
const naming = (prefix: string) => (name: string) => `${prefix}${name}`;

/** Settings every client of this adapter shares. */
const clientOptions = (options: Pick<KafkaOptions, 'clientId' | 'brokers' | 'requestTimeoutMs'>) => ({
  clientId: options.clientId,
  bootstrapBrokers: options.brokers,
  ...(options.requestTimeoutMs !== undefined ? { requestTimeout: options.requestTimeoutMs } : {}),
});

/** Waits until every partition of `topics` has a leader: a topic just made takes a moment to elect them. */
const untilLeadersElected = async (admin: Admin, topics: string[]): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    const metadata = await whileKafkaSettles(() => admin.metadata({ topics, forceUpdate: true })).catch((error: unknown) => {
      if (attempt >= 50) throw error;
      return null; // a topic just made may not be known yet to the broker asked
    });
    const partitions = metadata ? topics.flatMap((t) => metadata.topics.get(t)?.partitions ?? [undefined]) : [undefined];
    if (partitions.every((p) => p !== undefined && p.leader >= 0)) return;
    if (attempt >= 50) throw new Error(`no leader elected for every partition of ${topics.join(', ')}`);
    await sleep(200);
  }
};

/**
 * Makes the topics that are missing, with the replication the cluster
 * allows, and waits for their leaders. Another process making them at the
 * same moment is no failure.
 */
const createTopics = async (admin: Admin, options: KafkaOptions): Promise<void> => {
  const name = naming(options.topicPrefix);
  const metadata = await whileKafkaSettles(() => admin.metadata({ topics: [] }));
  const { factor, minInsync } = topicReplication(metadata.brokers.size, options.replicationFactor);
  const existing = new Set(await whileKafkaSettles(() => admin.listTopics()));
  const missing = Object.values(TOPICS)
    .map(name)
    .filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  await whileKafkaSettles(() =>
    admin.createTopics({
      topics: missing,
      partitions: options.partitions,
      replicas: factor,
      configs: [{ name: 'min.insync.replicas', value: String(minInsync) }],
    }),
  ).catch((error: unknown) => {
    if (!kafkaCodesOf(error).every((code) => code === 'TOPIC_ALREADY_EXISTS')) throw error;
  });
  await untilLeadersElected(admin, missing);
};

/**
 * A producer that asks a different broker each time it needs cluster
 * metadata. The client asks the first bootstrap broker that takes a
 * connection, and a send refreshing its metadata after a failed attempt does
 * not move on from it (2.12.1): a paused broker still takes connections (the
 * kernel accepts them) but never answers, so while the first one was paused
 * no send learned the partition's new leader and sends stalled (seen in
 * kafka-cluster.test.ts). Starting each lookup one broker further, a lookup
 * that timed out is followed by one a live broker answers.
 */
class RotatingProducer extends Producer<string, string, string, string> {
  private lookups = 0;

  override [kGetBootstrapConnection](callback: Callback<Connection>, attempt = 0): void {
    super[kGetBootstrapConnection](callback, attempt + this.lookups++);
  }
}

/**
 * The producer. Idempotent (acks from all in-sync replicas, one request in
 * flight per broker): a send retried after a lost answer is written once.
 * The client retries a send without end, each time to the leader the
 * cluster names then (a dead or paused leader is replaced within seconds):
 * the callers hold their batch unacknowledged meanwhile, the safe place to
 * wait. A send that fails all the same (an error no retry mends) leaves the
 * producer to start over with a new producer id, so a retry of it may be
 * written twice; the consumers absorb that by order id.
 *
 * Sends go one after another: one key's messages are then written in the
 * order they were published, whatever a retry meets.
 */
const orderedProducer = (options: KafkaOptions) => {
  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const producer = new RotatingProducer({
    ...clientOptions(options),
    idempotent: true,
    acks: ProduceAcks.ALL,
    // How long the leader may wait for the in-sync replicas: shorter than the request's own timeout, so the broker's answer comes first.
    timeout: Math.max(1_000, requestTimeout - 1_000),
    // The partition of a key as kafkajs and the Java client compute it, so a SKU stays in the partition it had before the client changed.
    partitioner: compatibilityPartitioner,
    serializers: stringSerializers,
  });
  let last: Promise<unknown> = Promise.resolve();
  const send = async (topic: string, envelopes: Envelope[]): Promise<void> => {
    for (const messages of chunksOf(envelopes)) await producer.send({ messages: messages.map(({ key, value }) => ({ topic, key, value })) });
  };
  return {
    publish: (topic: string, envelopes: Envelope[]): Promise<void> => {
      const sent = last.then(() => send(topic, envelopes));
      last = sent.catch(() => {}); // the caller hears of the failure; the next send goes on
      return sent;
    },
    close: async () => {
      await last;
      await producer.close();
    },
  };
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

/** One consumer of a subscription, from joining its group to its death or its stop. */
interface ConsumerRun {
  /** resolves, with why, when the consumer can consume no more */
  died: Promise<string>;
  /** stops handing batches out, waits for those with the handler, leaves the group */
  close: () => Promise<void>;
}

/**
 * Joins `group` on `topic` and hands its messages, through PartitionBatches,
 * to the handler; offsets are committed by hand, each once its batch is done.
 */
const startConsumer = async (options: KafkaOptions, topic: string, group: string, handler: BatchHandler): Promise<ConsumerRun> => {
  const consumer = new Consumer({
    ...clientOptions(options),
    groupId: group,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: Math.min(3_000, Math.floor(options.sessionTimeoutMs / 3)),
    autocommit: false,
    deserializers: stringDeserializers,
    ...fetchShape(options.lingerMs),
  });
  let die: (why: string) => void = () => {};
  const died = new Promise<string>((resolve) => (die = resolve));
  // The client emits 'error' once it gave up rejoining the group: this consumer is then done.
  consumer.on('error', (error: Error) => die(`gave up on its group (${error.message})`));

  let stream: MessagesStream<string, string, string, string> | null = null;
  const batches = new PartitionBatches({
    concurrency: options.concurrency,
    handler,
    commit: (partition, next) => consumer.commit({ offsets: [{ topic, partition, offset: next, leaderEpoch: -1 }] }),
    onGap: (partition, expected, got) => die(`skipped from offset ${expected} to ${got} on partition ${partition}`),
    pause: () => stream?.pause(),
    resume: () => stream?.resume(),
    log: (line) => logLine(`consumer of ${group}: ${line}`),
  });
  const held = () => new Set(consumer.assignments?.find((a) => a.topic === topic)?.partitions ?? []);
  /** Where each partition this member holds starts: the group's committed offset (or the earliest, if none), as the stream read it. */
  const starts = () => {
    const found = new Map<number, bigint>();
    for (const partition of held()) {
      const start = stream?.offsetsCommitted.get(`${topic}:${partition}`);
      if (start !== undefined) found.set(partition, start);
    }
    return found;
  };
  // A rebalance takes partitions away at once; where the kept and the new ones start is known once the stream re-read the group's offsets.
  consumer.on('consumer:group:join', () => batches.holding(held()));

  try {
    stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    });
  } catch (error) {
    await consumer.close(true).catch(() => {}); // the join's error says why
    throw error;
  }
  stream.on('offsets', () => batches.startAt(starts()));
  stream.on('data', (m) => batches.add({ partition: m.partition, offset: m.offset, key: m.key ?? '', value: m.value ?? '' }));
  stream.on('error', (error: Error) => die(`its stream failed (${error.message})`));
  stream.on('close', () => die('its stream closed'));
  batches.startAt(starts());

  return {
    died,
    close: async () => {
      await batches.stop();
      await consumer.close(true);
    },
  };
};

/**
 * Subscriptions that live until stopped: a consumer that died (its stream
 * failed after the client's own retries, or it gave up rejoining its group)
 * is closed and replaced after a pause, so a broker restart never leaves a
 * process that consumes nothing. The new one starts at the group's
 * committed offsets: what the dead one had not committed is handed over again.
 */
const subscriptions = (options: KafkaOptions) => {
  const name = naming(options.topicPrefix);
  const live = new Set<{ stop: () => Promise<void> }>();

  const subscribe = async (topic: Topic, group: string, handler: BatchHandler): Promise<Subscription> => {
    let stopped = false;
    let current: ConsumerRun | null = null;
    const start = async (): Promise<void> => {
      const run = await startConsumer(options, name(topic), name(group), handler);
      current = run;
      void run.died.then(async (why) => {
        if (stopped) return;
        logLine(`consumer of ${group} ${why}: starting a new one in ${RESTART_AFTER_MS} ms`);
        await run.close().catch((error: Error) => logLine(`consumer of ${group} did not close cleanly: ${error.message}`));
        replaceLater();
      });
    };
    const replaceLater = (): void =>
      void setTimeout(() => {
        if (stopped) return;
        start().catch((error: Error) => {
          logLine(`consumer of ${group} could not start (${error.message}): trying again in ${RESTART_AFTER_MS} ms`);
          replaceLater();
        });
      }, RESTART_AFTER_MS);

    await start();
    const subscription = {
      stop: async () => {
        stopped = true;
        live.delete(subscription);
        await current?.close();
      },
    };
    live.add(subscription);
    return subscription;
  };

  return { subscribe, stopAll: () => Promise.allSettled([...live].map((s) => s.stop())) };
};

/** Messages of `topic` not yet committed by `group`, over its partitions. */
const lagOf =
  (admin: Admin, prefix: string) =>
  async (topic: Topic, group: string): Promise<number> => {
    const name = naming(prefix);
    const topicName = name(topic);
    const metadata = await whileKafkaSettles(() => admin.metadata({ topics: [topicName] }));
    const partitions = Array.from({ length: metadata.topics.get(topicName)?.partitionsCount ?? 0 }, (_, i) => i);
    const offsetsAt = (timestamp: bigint) =>
      whileKafkaSettles(() =>
        admin.listOffsets({ topics: [{ name: topicName, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp })) }] }),
      );
    const [ends, starts, committed] = await Promise.all([
      offsetsAt(ListOffsetTimestamps.LATEST),
      offsetsAt(ListOffsetTimestamps.EARLIEST),
      whileKafkaSettles(() =>
        admin.listConsumerGroupOffsets({ groups: [{ groupId: name(group), topics: [{ name: topicName, partitionIndexes: partitions }] }] }),
      ),
    ]);
    const byPartition = (listed: { partitions: { partitionIndex: number; offset: bigint }[] }[]) =>
      new Map(listed.flatMap((t) => t.partitions.map((p) => [p.partitionIndex, p.offset] as const)));
    const low = byPartition(starts);
    const done = new Map(committed.flatMap((g) => g.topics.flatMap((t) => t.partitions.map((p) => [p.partitionIndex, p.committedOffset] as const))));
    let total = 0n;
    for (const [partition, high] of byPartition(ends)) {
      const first = low.get(partition) ?? 0n;
      const at = done.get(partition) ?? -1n;
      total += high - (at < first ? first : at);
    }
    return Number(total);
  };

export const connectKafka = async (options: KafkaOptions): Promise<Transport> => {
  const admin = new Admin(clientOptions(options));
  try {
    await createTopics(admin, options);
  } catch (error) {
    await admin.close().catch(() => {}); // the error says why
    throw error;
  }
  const producer = orderedProducer(options);
  const consumers = subscriptions(options);
  const name = naming(options.topicPrefix);
  return {
    publish: (topic: Topic, envelopes: Envelope[]) => producer.publish(name(topic), envelopes),
    subscribe: consumers.subscribe,
    lag: lagOf(admin, options.topicPrefix),
    close: async () => {
      await consumers.stopAll();
      await producer.close();
      await admin.close();
    },
  };
};

/**
 * The broker leading the partition a key's messages of `topic` go to, as
 * the relay's producer picks the partition: the lab cuts that broker off to
 * strike a SKU's own leader rather than any broker.
 */
export const leaderOfKey = async (
  options: Pick<KafkaOptions, 'brokers' | 'clientId' | 'topicPrefix'>,
  topic: Topic,
  key: string,
): Promise<{ host: string; port: number; partition: number }> => {
  const admin = new Admin(clientOptions(options));
  try {
    const topicName = naming(options.topicPrefix)(topic);
    const metadata = await whileKafkaSettles(() => admin.metadata({ topics: [topicName], forceUpdate: true }));
    const partitions = metadata.topics.get(topicName);
    if (!partitions) throw new Error(`topic ${topicName} does not exist`);
    const partition = compatibilityPartitioner({ topic: topicName }, Buffer.from(key)) % partitions.partitionsCount;
    const leader = metadata.brokers.get(partitions.partitions[partition]?.leader ?? -1);
    if (!leader) throw new Error(`partition ${partition} of ${topicName} has no live leader`);
    return { host: leader.host, port: leader.port, partition };
  } finally {
    await admin.close();
  }
};
