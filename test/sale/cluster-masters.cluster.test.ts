import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisClient } from '../../src/redis/connection.js';
import { killNode, migrateSlot, readClusterNodes, startLocalCluster, startNode, stopLocalCluster } from '../../src/redis/local-cluster.js';
import { skuKeys } from '../../src/redis/keys.js';
import { fieldIn, NotReplicatedError, ReplicaAcks } from '../../src/redis/replica-acks.js';
import { Reservations } from '../../src/sale/reservations.js';
import { StockTransfers } from '../../src/sale/transfers.js';
import { newRedis, postJson, preloadSku, uniqueSku, waitFor } from '../helpers.js';
import { TEST_CLUSTER } from '../test-env.js';
import { buyMany, mysqlStock, ordersOf, startPipeline } from '../queue/pipeline-helpers.js';
import { serverTracker } from '../helpers.js';

const redis = newRedis();
const servers = serverTracker();
const running: { stop(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await servers.stopAll();
});
afterAll(() => redis.quit());

/**
 * The port of the master that serves a key's slot, as the cluster itself says
 * (CLUSTER NODES asked of the node on `askPort`), not the client's slot map,
 * which is empty until its first refresh and stale after a move.
 */
const masterOf = async (cluster: RedisClient, key: string, askPort = TEST_CLUSTER.port): Promise<number> => {
  const slot = Number(await cluster.cluster('KEYSLOT', key));
  const owner = (await readClusterNodes(askPort)).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
  if (!owner) throw new Error(`no master serves slot ${slot}`);
  return owner.port;
};

/** One SKU name per master of the cluster: each sale lives on a different master. */
const skuOnEachMaster = async (cluster: RedisClient, label: string): Promise<string[]> => {
  const byMaster = new Map<number, string>();
  while (byMaster.size < TEST_CLUSTER.masters) {
    const sku = uniqueSku(label);
    const master = await masterOf(cluster, skuKeys(sku).stock);
    if (!byMaster.has(master)) byMaster.set(master, sku);
  }
  return [...byMaster.values()];
};

describe('a sale on each master of a Redis Cluster', () => {
  it("sells exactly each SKU's stock through one server and the pipeline, whichever master holds it", async () => {
    const skus = await skuOnEachMaster(redis, 'master');
    expect(new Set(await Promise.all(skus.map((sku) => masterOf(redis, skuKeys(sku).stock)))).size).toBe(3);
    for (const sku of skus) await preloadSku(redis, { sku, stock: 100 });
    const server = await servers.start();
    running.push(await startPipeline('redis', 'unused.'));

    const answers = await Promise.all(skus.map((sku) => buyMany(server.url, sku, 300, 30, `${sku}-u`)));
    for (const [i, sku] of skus.entries()) {
      expect(answers[i].filter((a) => a.status === 201)).toHaveLength(100);
      expect(answers[i].filter((a) => a.status !== 201 && a.status !== 410)).toEqual([]);
      expect(await redis.get(skuKeys(sku).stock)).toBe('0');
    }
    for (const sku of skus) {
      await waitFor(async () => (await ordersOf(sku)).length === 100, 30_000, `100 orders of ${sku}`);
      expect(await mysqlStock(sku)).toBe(0);
    }
  });
});

describe('a resharding mid-sale', () => {
  it("moves the SKU's slot to another master while 1,500 buyers press buy: no 5xx, exactly the stock sold, every order reaches MySQL", async () => {
    const sku = uniqueSku('reshard');
    await preloadSku(redis, { sku, stock: 300 });
    const slot = Number(await redis.cluster('KEYSLOT', skuKeys(sku).stock));
    const fromPort = await masterOf(redis, skuKeys(sku).stock);
    const toPort = (await readClusterNodes(TEST_CLUSTER.port)).find((n) => n.role === 'master' && n.port !== fromPort)!.port;
    const server = await servers.start();
    running.push(await startPipeline('redis', 'unused.'));

    let bought = false;
    const buying = buyMany(server.url, sku, 1_500, 30).finally(() => (bought = true));
    // The slot moves while the crowd buys: its keys are MIGRATEd in batches (clients get ASK or TRYAGAIN meanwhile).
    await waitFor(async () => Number(await redis.get(skuKeys(sku).stock)) < 280, 10_000, 'the sale under way');
    const moved = await migrateSlot(slot, fromPort, toPort);
    expect(bought).toBe(false); // the crowd was still buying when the slot had moved
    const answers = await buying;

    expect(moved).toBeGreaterThan(0);
    expect(await masterOf(redis, skuKeys(sku).stock)).toBe(toPort);
    expect(answers.filter((a) => a.status >= 500)).toEqual([]);
    expect(answers.filter((a) => a.status === 201)).toHaveLength(300);
    expect(await redis.get(skuKeys(sku).stock)).toBe('0');
    expect(await redis.hlen(skuKeys(sku).reservations)).toBe(300);
    await waitFor(async () => (await ordersOf(sku)).length === 300, 30_000, '300 orders in MySQL');
    expect(await mysqlStock(sku)).toBe(0);
  });
});

describe('waiting for a replica before a 201', () => {
  // A cluster of the test's own, with a replica per master, on ports of its own.
  let dir: string;
  let url: string;
  let cluster: RedisClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'seckill-test-replicas-'));
    ({ url } = await startLocalCluster({ dir, port: 7330, masters: 3, replicas: 1 }));
    cluster = await connectRedis(url, { enableOfflineQueue: true });
  }, 120_000);
  const made: ReplicaAcks[] = [];
  /** Confirmations by one replica; a generous timeout: the machine is shared, and a replica of a cluster just started may still be catching up. */
  const acks = (): ReplicaAcks => {
    const replicaAcks = new ReplicaAcks(cluster, 1, 1_000);
    made.push(replicaAcks);
    return replicaAcks;
  };
  /**
   * The replica of the master that holds `key`. Waited for: a replica an earlier test killed and
   * started again is flagged failed for a moment after it is back (CI once found none).
   */
  const replicaOf = async (key: string) => {
    let replica: Awaited<ReturnType<typeof readClusterNodes>>[number] | undefined;
    await waitFor(
      async () => {
        const nodes = await readClusterNodes(7330);
        const port = await masterOf(cluster, key, 7330);
        const id = nodes.find((n) => n.port === port)?.id;
        replica = nodes.find((n) => n.role === 'replica' && n.masterId === id && !n.failed);
        return replica !== undefined;
      },
      30_000,
      `a live replica of the master holding ${key}`,
    );
    return replica!;
  };
  afterAll(async () => {
    for (const replicaAcks of made) replicaAcks.close();
    cluster?.disconnect();
    await stopLocalCluster({ dir, clean: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('answers an order id only once a replica holds it; without the replica the buyer is told to retry, and the retry gets the same order', async () => {
    const sku = uniqueSku('replicated');
    await preloadSku(cluster, { sku, stock: 10 });
    // A generous timeout: the machine is shared, and a replica of a cluster just started may still be catching up.
    const reservations = new Reservations(cluster, { replicaAcks: acks() });
    expect((await reservations.reserve({ sku, userId: 'alice', qty: 1, requestId: 'a1' })).outcome).toBe('OK');

    // The replica of the SKU's master goes away: a reservation can no longer be confirmed.
    const replica = await replicaOf(skuKeys(sku).stock);
    await killNode(dir, replica.port);
    await expect(reservations.reserve({ sku, userId: 'bob', qty: 1, requestId: 'b1' })).rejects.toBeInstanceOf(NotReplicatedError);
    // The reservation stands on the master; Bob's retry, once a replica is back, is told his order.
    const held = await cluster.hget(skuKeys(sku).requests, 'bob/b1');
    expect(held).not.toBeNull();
    await startNode(dir, replica.port);
    await waitFor(
      async () => (await reservations.reserve({ sku, userId: 'bob', qty: 1, requestId: 'b1' }).catch(() => null))?.outcome === 'DUPLICATE',
      30_000,
      'the retry confirmed',
    );
    const retry = await reservations.reserve({ sku, userId: 'bob', qty: 1, requestId: 'b1' });
    expect(retry).toMatchObject({ outcome: 'DUPLICATE', orderId: held });
  }, 120_000);

  it('confirms every answer that names an order through a real server: the DUPLICATE of the sold-out snapshot and the order id of a LIMIT wait for the replica too', async () => {
    const sku = uniqueSku('snapshot-acks');
    await preloadSku(cluster, { sku, stock: 1, limit: 1 });
    const { url: server } = await servers.start(['--replica-acks', '1', '--replica-ack-timeout', '1000', '--sold-out-ttl', '600000'], { REDIS_URL: url });
    const alice = await postJson(`${server}/reserve`, { sku, userId: 'alice', requestId: 'a1' });
    expect(alice.status).toBe(201);
    // Sold out: the server answers from its snapshot from now on (Dave's answer reads it, and a replica confirms it).
    expect((await postJson(`${server}/reserve`, { sku, userId: 'bob', requestId: 'b1' })).body).toMatchObject({ error: 'SOLD_OUT' });
    expect((await postJson(`${server}/reserve`, { sku, userId: 'dave', requestId: 'd1' })).body).toMatchObject({ error: 'SOLD_OUT' });

    const replica = await replicaOf(skuKeys(sku).stock);
    await killNode(dir, replica.port);
    try {
      // Without a replica no order id is named: retry later, not "you hold order X" that a failover could take back.
      expect((await postJson(`${server}/reserve`, { sku, userId: 'alice', requestId: 'a1' })).status).toBe(503);
      expect((await postJson(`${server}/reserve`, { sku, userId: 'alice', requestId: 'a2' })).status).toBe(503);
      // A SOLD_OUT from a snapshot replicas confirmed needs no replica now: no master sells from a stock of 0.
      expect((await postJson(`${server}/reserve`, { sku, userId: 'carol', requestId: 'c1' })).status).toBe(410);
    } finally {
      await startNode(dir, replica.port);
    }
    await waitFor(async () => (await postJson(`${server}/reserve`, { sku, userId: 'alice', requestId: 'a1' })).status === 409, 30_000, 'the retry confirmed');
    expect((await postJson(`${server}/reserve`, { sku, userId: 'alice', requestId: 'a1' })).body).toMatchObject({
      error: 'DUPLICATE',
      orderId: alice.body.orderId,
    });
    expect((await postJson(`${server}/reserve`, { sku, userId: 'alice', requestId: 'a2' })).body).toMatchObject({
      error: 'LIMIT',
      orderId: alice.body.orderId,
    });
  }, 120_000);

  it("tells a buyer to retry, not SOLD_OUT, while no replica holds the master's sell-out: a master cut off sells out stock its promoted replica may still have", async () => {
    const sku = uniqueSku('sold-out-acks');
    await preloadSku(cluster, { sku, stock: 1, limit: 1 });
    const { url: server } = await servers.start(['--replica-acks', '1', '--replica-ack-timeout', '1000', '--sold-out-ttl', '600000'], { REDIS_URL: url });
    const replica = await replicaOf(skuKeys(sku).stock);
    await killNode(dir, replica.port);
    try {
      // Alice takes the last unit on the master alone: not confirmed, she retries.
      expect((await postJson(`${server}/reserve`, { sku, userId: 'alice', requestId: 'a1' })).status).toBe(503);
      // Bob is refused by reserve.lua, Carol from the snapshot (the sell-out was announced): neither answer can be shown to be the sale's.
      expect((await postJson(`${server}/reserve`, { sku, userId: 'bob', requestId: 'b1' })).status).toBe(503);
      expect((await postJson(`${server}/reserve`, { sku, userId: 'carol', requestId: 'c1' })).status).toBe(503);
    } finally {
      await startNode(dir, replica.port);
    }
    await waitFor(async () => (await postJson(`${server}/reserve`, { sku, userId: 'bob', requestId: 'b1' })).status === 410, 30_000, 'the sell-out confirmed');
    expect((await postJson(`${server}/reserve`, { sku, userId: 'carol', requestId: 'c1' })).body).toMatchObject({ error: 'SOLD_OUT' });
    expect((await postJson(`${server}/reserve`, { sku, userId: 'alice', requestId: 'a1' })).body).toMatchObject({ error: 'DUPLICATE' });
  }, 120_000);

  it('confirms only a write that is on the master it asked: a replica acknowledging is not enough when the write is not there', async () => {
    const sku = uniqueSku('look');
    await preloadSku(cluster, { sku, stock: 1 });
    const replicaAcks = acks();
    const keys = skuKeys(sku);
    await cluster.hset(keys.reservations, 'present', '{}');
    await expect(replicaAcks.confirm(fieldIn(keys.reservations, 'present'))).resolves.toBeUndefined();
    // As after a failover to a replica that never got the write.
    await expect(replicaAcks.confirm(fieldIn(keys.reservations, 'lost'))).rejects.toBeInstanceOf(NotReplicatedError);
  });

  it('keeps the waiting off the shared connections: while the WAIT of a master times out, other calls to that master are answered at once', async () => {
    const sku = uniqueSku('wait-apart');
    await preloadSku(cluster, { sku, stock: 10 });
    const reservations = new Reservations(cluster, { replicaAcks: new ReplicaAcks(cluster, 1, 3_000) });
    const replica = await replicaOf(skuKeys(sku).stock);
    await killNode(dir, replica.port);
    try {
      let settled = false;
      const waiting = reservations.reserve({ sku, userId: 'waits', qty: 1 }).finally(() => (settled = true));
      waiting.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 200)); // the WAIT is on its way
      // Another buyer's call to the same master: answered while the WAIT still blocks.
      expect(await cluster.get(skuKeys(sku).stock)).toBe('9');
      expect(settled).toBe(false);
      await expect(waiting).rejects.toBeInstanceOf(NotReplicatedError);
    } finally {
      await startNode(dir, replica.port);
    }
  });

  it('confirms each step of a transfer between buckets: no credit before the debit is on a replica, so a failover cannot create units', async () => {
    // Two buckets on two masters (their hash tags are {sku} and {sku#1}).
    const sku = uniqueSku('transfer-acks');
    await preloadSku(cluster, { sku, stock: 20, buckets: 2 });
    const transfers = new StockTransfers(cluster, {}, acks());
    const donor = await replicaOf(skuKeys(sku, 0).stock);
    await killNode(dir, donor.port);
    try {
      await expect(transfers.send(sku, 0, 1, 5)).rejects.toBeInstanceOf(NotReplicatedError);
      // Debited and recorded on the donor, not credited: the units are in transfer, named by the record.
      expect(await cluster.get(skuKeys(sku, 0).stock)).toBe('5');
      expect(await cluster.get(skuKeys(sku, 1).stock)).toBe('10');
      expect(await cluster.hlen(skuKeys(sku, 0).transfers)).toBe(1);
    } finally {
      await startNode(dir, donor.port);
    }
    await waitFor(async () => (await transfers.finishAll(sku).catch(() => 0)) === 1, 30_000, 'the transfer finished once the donor has a replica');
    expect(await cluster.get(skuKeys(sku, 1).stock)).toBe('15');
    expect(await cluster.hlen(skuKeys(sku, 0).transfers)).toBe(0);
  }, 120_000);
});
