import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, ConfigResourceTypes } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalIfAlive } from '../../src/local-process.js';
import { startBroker, stopBroker, type BrokerStatus } from '../../src/queue/broker.js';
import '../../src/queue/kafka-on-node20.js';
import { connectKafka } from '../../src/queue/kafka.js';
import { TOPICS } from '../../src/queue/names.js';
import type { Transport } from '../../src/queue/transport.js';
import { waitFor } from '../helpers.js';

/**
 * The relay's side of Kafka at size: three KRaft nodes of the test's own
 * (`startBroker` with three nodes on free ports, state in the test's temp
 * dir), topics with replication factor 3 and min.insync.replicas 2, and our
 * adapter producing keyed messages (one per SKU per send, as the relay does)
 * while the leader of a partition is killed or paused and then brought back.
 * What the adapter acknowledged is then read back: every acknowledged
 * message exactly once, each key's messages in the order they were sent.
 * One cluster serves the file: three JVMs on two shared cores start slowly.
 */

const PARTITIONS = 3;
/** One message per key per send: a send spans every partition, so every broker leads part of it. */
const KEYS = Array.from({ length: 12 }, (_, i) => `sku-${i}`);
/** Sends acknowledged before a fault, and after it before the broker is brought back (the cluster works on without it). */
const SENDS_BEFORE_FAULT = 15;
const SENDS_DURING_FAULT = 15;
const SENDS_AFTER_RETURN = 10;
/** Short enough that a paused leader's connection is given up on soon, as a relay would configure it for a lab. */
const REQUEST_TIMEOUT_MS = 5_000;

// The runner must start the test's own cluster even where the suite is pointed at one.
const env = { ...process.env, KAFKA_BROKERS: '' };
let tempDir: string;
let kafkaDir: string;
let cluster: BrokerStatus & { readyMs: number };
let admin: Admin;

/** Free ports, held together while found so that none is handed out twice. */
const freePorts = async (count: number): Promise<number[]> => {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      servers.push(server);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  }
};

const pidOfNode = (id: number): number => {
  const pid = cluster.nodes.find((n) => n.id === id)?.pid;
  if (!pid) throw new Error(`no pid for node ${id}`);
  return pid;
};

beforeAll(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'seckill-kafka-cluster-'));
  kafkaDir = join(tempDir, 'kafka');
  const ports = await freePorts(6);
  cluster = await startBroker({
    dir: kafkaDir,
    nodes: [0, 1, 2].map((i) => ({ port: ports[2 * i], controllerPort: ports[2 * i + 1] })),
    env,
  });
  process.stderr.write(`kafka-cluster test: 3 nodes answering after ${(cluster.readyMs / 1000).toFixed(1)} s on ${cluster.address}\n`);
  admin = new Admin({ clientId: 'cluster-test-admin', bootstrapBrokers: cluster.address.split(','), requestTimeout: REQUEST_TIMEOUT_MS });
}, 180_000);

afterAll(async () => {
  await admin?.close();
  if (kafkaDir) {
    // A test that failed mid-fault may leave a node paused: a paused JVM ignores SIGTERM until continued.
    for (const node of cluster?.nodes ?? []) if (node.pid) signalIfAlive(node.pid, 'SIGCONT');
    await stopBroker({ dir: kafkaDir, env });
  }
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
}, 90_000);

interface Produced {
  /** every message value the adapter acknowledged, `key:seq` */
  acknowledged: string[];
  /** acknowledged sends so far */
  sends: () => number;
  stop: () => Promise<void>;
}

/** Sends one message per key, seq after seq, each send awaited (as the relay awaits a batch before acknowledging its entries). */
const produce = (transport: Transport): Produced => {
  const acknowledged: string[] = [];
  let sends = 0;
  let stopping = false;
  const loop = (async () => {
    for (let seq = 0; !stopping; seq++) {
      const envelopes = KEYS.map((key) => ({ key, value: `${key}:${seq}` }));
      await transport.publish(TOPICS.orders, envelopes);
      acknowledged.push(...envelopes.map((e) => e.value));
      sends++;
    }
  })();
  return {
    acknowledged,
    sends: () => sends,
    stop: async () => {
      stopping = true;
      await loop;
    },
  };
};

/** Every message of the topic, read by a fresh group until the acknowledged ones are all there and nothing is left unread. */
const readBack = async (transport: Transport, group: string, acknowledged: string[]): Promise<string[]> => {
  const seen: string[] = [];
  const subscription = await transport.subscribe(TOPICS.orders, group, (batch) => {
    seen.push(...batch.values);
    return Promise.resolve();
  });
  try {
    const wanted = new Set(acknowledged);
    await waitFor(
      async () => [...wanted].every((v) => seen.includes(v)) && (await transport.lag(TOPICS.orders, group)) === 0,
      60_000,
      `the ${acknowledged.length} acknowledged messages to be read back`,
    );
  } catch (error) {
    // Say what is missing rather than only that the wait timed out.
    const read = new Set(seen);
    const missing = acknowledged.filter((v) => !read.has(v));
    throw new Error(`${(error as Error).message} (${seen.length} read); missing ${missing.length}: ${missing.slice(0, 20).join(', ')}`);
  } finally {
    await subscription.stop();
  }
  return seen;
};

/**
 * Acknowledged but missing, keys whose messages came out of order (judged on
 * each message's first copy), and duplicates. The consumer would absorb a
 * duplicate (an order is applied once by its id), but the idempotent
 * producer is there so that a send retried after a leader change is written
 * once: a second copy means it failed at that.
 */
const judge = (acknowledged: string[], seen: string[]) => {
  const counts = new Map<string, number>();
  for (const v of seen) counts.set(v, (counts.get(v) ?? 0) + 1);
  const lastSeq = new Map<string, number>();
  const outOfOrder: string[] = [];
  for (const v of new Set(seen)) {
    const [key, seq] = v.split(':');
    if ((lastSeq.get(key) ?? -1) >= Number(seq)) outOfOrder.push(`${v} after ${key}:${lastSeq.get(key)}`);
    lastSeq.set(key, Number(seq));
  }
  return {
    duplicated: [...counts].filter(([, n]) => n > 1).map(([v, n]) => `${v} ×${n}`),
    missing: acknowledged.filter((v) => !counts.has(v)),
    outOfOrder,
  };
};

/** The node leading partition 0 of the topic, and how many replicas each partition has in sync. */
const partitionState = async (topic: string) => {
  const { partitions } = (await admin.metadata({ topics: [topic], forceUpdate: true })).topics.get(topic)!;
  return {
    leaderOf0: partitions[0].leader,
    isr: partitions.map((p) => p.isr.length),
    replicas: partitions.map((p) => p.replicas.length),
  };
};

/**
 * Produces through a fresh adapter on topics of its own, lets `fault` strike
 * partition 0's leader mid-stream, and returns what was acknowledged and
 * what the topic holds.
 */
const runWithFault = async (label: string, fault: (leaderPid: number, sendsSoFar: () => number) => Promise<void>) => {
  const topicPrefix = `t${randomBytes(3).toString('hex')}.`;
  const transport = await connectKafka({
    clientId: `cluster-test-${label}`,
    brokers: cluster.address.split(','),
    partitions: PARTITIONS,
    topicPrefix,
    sessionTimeoutMs: 6_000,
    concurrency: PARTITIONS,
    lingerMs: 0,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });
  try {
    const topic = `${topicPrefix}${TOPICS.orders}`;
    const before = await partitionState(topic);
    expect(before.replicas).toEqual([3, 3, 3]);
    const producing = produce(transport);
    let duringFault = { sends: 0, ms: 0 };
    // Which node was struck, and whether clients asked it first for metadata (it heads the bootstrap list).
    const struckNode = `node ${before.leaderOf0}${cluster.nodes[0]?.id === before.leaderOf0 ? ', first bootstrap broker' : ''}`;
    try {
      await waitFor(() => producing.sends() >= SENDS_BEFORE_FAULT, 30_000, `${SENDS_BEFORE_FAULT} sends before the fault`);
      const struck = { sends: producing.sends(), at: Date.now() };
      process.stderr.write(`kafka-cluster test, ${label}: striking ${struckNode} after ${struck.sends} sends\n`);
      await fault(pidOfNode(before.leaderOf0), producing.sends);
      duringFault = { sends: producing.sends() - struck.sends, ms: Date.now() - struck.at };
      // Back in the cluster: every replica in sync again, so the next fault finds a whole cluster.
      await waitFor(async () => (await partitionState(topic).catch(() => null))?.isr.every((n) => n === 3) ?? false, 60_000, 'every replica back in sync');
      const returned = producing.sends();
      await waitFor(() => producing.sends() >= returned + SENDS_AFTER_RETURN, 30_000, `${SENDS_AFTER_RETURN} sends after the node returned`);
    } finally {
      await producing.stop();
    }
    const seen = await readBack(transport, `check-${label}`, producing.acknowledged);
    const judged = judge(producing.acknowledged, seen);
    process.stderr.write(
      `kafka-cluster test, ${label} (${struckNode}): ${producing.acknowledged.length} acknowledged (${producing.sends()} sends, ${duringFault.sends} of them ` +
        `from the fault until the node was back, ${(duringFault.ms / 1000).toFixed(1)} s), ${seen.length} read back; ` +
        `missing ${judged.missing.length}, duplicated ${judged.duplicated.length}, out of order ${judged.outOfOrder.length}\n`,
    );
    return judged;
  } finally {
    await transport.close();
  }
};

/** Waits until `count` more sends are acknowledged: the cluster works on without the node struck. */
const sendsGoOn = (sendsSoFar: () => number, what: string) => {
  const from = sendsSoFar();
  return waitFor(() => sendsSoFar() >= from + SENDS_DURING_FAULT, 60_000, `${SENDS_DURING_FAULT} sends acknowledged ${what}`);
};

describe('a leader change on a 3-broker cluster (RF 3, min.insync.replicas 2, acks=all, idempotent producer)', () => {
  it('the adapter makes its topics with 3 replicas and min.insync.replicas 2', async () => {
    const topicPrefix = `t${randomBytes(3).toString('hex')}.`;
    const transport = await connectKafka({
      clientId: 'cluster-test-topics',
      brokers: cluster.address.split(','),
      partitions: PARTITIONS,
      topicPrefix,
      sessionTimeoutMs: 6_000,
      concurrency: 1,
      lingerMs: 0,
    });
    try {
      const topic = `${topicPrefix}${TOPICS.orders}`;
      expect((await partitionState(topic)).replicas).toEqual([3, 3, 3]);
      const [described] = await admin.describeConfigs({
        resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, configurationKeys: ['min.insync.replicas'] }],
      });
      expect(described.configs.find((c) => c.name === 'min.insync.replicas')?.value).toBe('2');
    } finally {
      await transport.close();
    }
  });

  it('loses and duplicates no acknowledged message, and keeps each key in order, when the leader is killed (SIGKILL) and restarted', async () => {
    const judged = await runWithFault('kill', async (leaderPid, sends) => {
      process.kill(leaderPid, 'SIGKILL');
      await sendsGoOn(sends, 'after the leader was killed');
      // Starts the node that died, alone: the others run.
      cluster = { ...(await startBroker({ dir: kafkaDir, env })), readyMs: cluster.readyMs };
    });
    expect(judged).toEqual({ duplicated: [], missing: [], outOfOrder: [] });
  }, 240_000);

  it('loses and duplicates no acknowledged message, and keeps each key in order, when the leader is paused (SIGSTOP) and continued: sends go on meanwhile', async () => {
    const judged = await runWithFault('pause', async (leaderPid, sends) => {
      process.kill(leaderPid, 'SIGSTOP');
      try {
        await sendsGoOn(sends, 'while the leader was paused');
      } finally {
        process.kill(leaderPid, 'SIGCONT');
      }
    });
    expect(judged).toEqual({ duplicated: [], missing: [], outOfOrder: [] });
  }, 240_000);
});
