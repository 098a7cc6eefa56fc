import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, startLabRedisCluster, type Lab, type LabHost, type LabRedisCluster } from '../../src/lab/index.js';
import { localClusterStatus, readClusterNodes, waitForAgreement, type ClusterNode } from '../../src/redis/local-cluster.js';
import { skipReason, support } from './lab-helpers.js';

/**
 * A Redis Cluster of 3 masters and 3 replicas, one node per lab host, and a
 * client in a seventh host: a master cut off from its replica and the other
 * nodes (the client still reaching it) is replaced by its replica within the
 * cluster-node-timeout (2 s) and a vote; healed, the cluster agrees again.
 */
const REDIS_HOSTS = ['redis1', 'redis2', 'redis3', 'redis4', 'redis5', 'redis6'];
const KEYS = Array.from({ length: 30 }, (_, i) => `lab-key-${i}`);

/** A Cluster client run in `host`: writes `set` (key → value), then prints the values of `get` and the address that serves each. */
const CLIENT_CODE = `
import { Cluster } from 'ioredis';
const [url, set, get] = process.argv.slice(1);
const seeds = url.replace('redis-cluster://', '').split(',').map((a) => ({ host: a.split(':')[0], port: Number(a.split(':')[1]) }));
const cluster = new Cluster(seeds, { redisOptions: { connectTimeout: 2000 }, clusterRetryStrategy: () => 200 });
try {
  for (const [key, value] of Object.entries(JSON.parse(set))) await cluster.set(key, value);
  const out = {};
  for (const key of JSON.parse(get)) {
    const slot = (await cluster.cluster('KEYSLOT', key));
    out[key] = { value: await cluster.get(key), slot };
  }
  console.log(JSON.stringify(out));
} finally {
  cluster.disconnect();
}
`;

const runClient = async (host: LabHost, url: string, set: Record<string, string>, get: string[]) =>
  JSON.parse(await host.runNode({ code: CLIENT_CODE }, [url, JSON.stringify(set), JSON.stringify(get)])) as Record<
    string,
    { value: string | null; slot: number }
  >;

/** The role a node tells a redis-cli run in `from` (a client in the lab); null when it does not answer within 2 s. */
const roleSeenFrom = async (from: LabHost, address: string, port: number): Promise<string | null> =>
  (await from.exec(['redis-cli', '-h', address, '-p', String(port), 'ROLE'], { timeoutMs: 2_000 }).catch(() => null))?.stdout.split('\n')[0] ?? null;

const pollUntil = async (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> => {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return Date.now() - started;
};

const slotCount = (nodes: ClusterNode[]) => nodes.flatMap((n) => n.slots).reduce((sum, [from, to]) => sum + to - from + 1, 0);

describe.skipIf(!support.ok)(`a Redis Cluster of 6 lab hosts${skipReason}`, () => {
  let lab: Lab;
  let redis: LabRedisCluster;
  const dir = mkdtempSync('/tmp/sk-lab-redis-');

  beforeAll(async () => {
    lab = await createLab({ name: 'redis-cluster-test', hosts: [...REDIS_HOSTS, 'client'] });
    redis = await startLabRedisCluster(lab, { hosts: REDIS_HOSTS, dir, masters: 3, replicas: 1 });
  }, 60_000);

  afterAll(async () => {
    // Destroying the lab kills the nodes with their namespaces: no graceful stop needed for a throw-away cluster.
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('comes up on the hosts’ addresses, and a client in a seventh host writes and reads through it', async () => {
    expect(redis.url).toBe(
      `redis-cluster://${REDIS_HOSTS.slice(0, 3)
        .map((h) => `${lab.host(h).address}:${redis.nodeIn(h).port}`)
        .join(',')}`,
    );
    const nodes = await readClusterNodes(redis.nodes[0].target);
    expect(nodes.map((n) => n.host).sort()).toEqual(REDIS_HOSTS.map((h) => lab.host(h).address).sort());
    expect(nodes.filter((n) => n.role === 'master')).toHaveLength(3);
    expect(slotCount(nodes.filter((n) => n.role === 'master'))).toBe(16_384);

    const read = await runClient(lab.host('client'), redis.url, Object.fromEntries(KEYS.map((k) => [k, `v-${k}`])), KEYS);
    expect(Object.values(read).map((r) => r.value)).toEqual(KEYS.map((k) => `v-${k}`));
  });

  it('promotes the replica of a master cut off from its replica and the other nodes (the client still reaching it), and agrees again once healed', async () => {
    const client = lab.host('client');
    const nodes = await readClusterNodes(redis.nodes[0].target);
    const victim = nodes.find((n) => n.role === 'master')!;
    const heir = nodes.find((n) => n.masterId === victim.id)!;
    const victimHost = redis.nodes.find((n) => n.port === victim.port)!.host;
    const others = redis.nodes.filter((n) => n.host !== victimHost);
    expect(await roleSeenFrom(client, heir.host, heir.port)).toBe('slave');

    for (const other of others) await lab.cut(victimHost.name, other.host.name);
    let promotedAfterMs: number;
    try {
      // The client still reaches the victim (the gateways' view in a real fault): it is cut from the cluster, not from the world.
      expect(await roleSeenFrom(client, victim.host, victim.port)).toBe('master');
      promotedAfterMs = await pollUntil(async () => (await roleSeenFrom(client, heir.host, heir.port)) === 'master', 20_000, `${heir.host} promoted`);
      // The victim's slots are written through the heir now, as a client in the lab sees it.
      const during = await runClient(client, redis.url, { 'lab-during-cut': 'written' }, ['lab-during-cut']);
      expect(during['lab-during-cut'].value).toBe('written');
    } finally {
      for (const other of others) await lab.uncut(victimHost.name, other.host.name);
    }

    // Healed: the old master rejoins as the heir's replica and every node agrees (cluster_state ok, roles, replicas synced).
    await waitForAgreement(dir);
    const status = await localClusterStatus({ dir });
    expect(status.clusterState).toBe('ok');
    expect(status.nodes.map((n) => n.clusterState)).toEqual(REDIS_HOSTS.map(() => 'ok'));
    const after = await readClusterNodes(redis.nodes[0].target);
    const masters = after.filter((n) => n.role === 'master');
    expect(masters).toHaveLength(3);
    expect(slotCount(masters)).toBe(16_384); // one master per slot range: no slot counted twice, none missing
    expect(after.find((n) => n.id === victim.id)).toMatchObject({ role: 'replica', masterId: heir.id });
    expect(await roleSeenFrom(client, victim.host, victim.port)).toBe('slave');

    const read = await runClient(client, redis.url, {}, [...KEYS, 'lab-during-cut']);
    expect(Object.values(read).map((r) => r.value)).toEqual([...KEYS.map((k) => `v-${k}`), 'written']);
    console.log(`replica promoted ${promotedAfterMs} ms after the cut`);
  }, 60_000);
});
