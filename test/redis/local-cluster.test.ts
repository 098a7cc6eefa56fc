import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClusterUrl } from '../../src/redis/connection.js';
import {
  killNode,
  localClusterStatus,
  readClusterNodes,
  startLocalCluster,
  startNode,
  stopLocalCluster,
  type LocalClusterStatus,
  type StartResult,
  type StopResult,
} from '../../src/redis/local-cluster.js';
import { isAlive, waitFor } from '../helpers.js';

/**
 * The local Redis Cluster runner against real redis-server processes, in
 * dirs under the system temp dir and on ports of the test's own (7300…,
 * 7310…), apart from a developer's cluster on 7000 and the suite's on 7100.
 */
const root = mkdtempSync(join(tmpdir(), 'seckill-test-local-cluster-'));
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((dir) => stopLocalCluster({ dir, clean: true })));
  await rm(root, { recursive: true, force: true });
}, 60_000);

const ownDir = (name: string): string => {
  const dir = join(root, name);
  dirs.push(dir);
  return dir;
};

const clusterClient = (url: string): Cluster => new Cluster(parseClusterUrl(url).nodes, { redisOptions: { connectTimeout: 2_000 } });

// Through the built CLI, as an operator uses it (build first: npx tsc -p tsconfig.json).
describe('seckill redis-cluster start|status|stop (3 masters, no replicas)', () => {
  const dir = ownDir('three-masters');
  const seckill = async <T>(...args: string[]): Promise<T> => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/seckill', 'redis-cluster', ...args, '--dir', dir, '--json']);
    return JSON.parse(stdout) as T;
  };
  let started: StartResult;

  beforeAll(async () => {
    started = await seckill('start', '--port', '7300', '--masters', '3', '--replicas', '0');
  }, 60_000);

  it('forms a cluster whose 3 masters serve all 16384 slots, and a Cluster client reads back what it wrote', async () => {
    expect(started).toMatchObject({
      alreadyRunning: false,
      clusterState: 'ok',
      slotsCovered: 16_384,
      url: 'redis-cluster://127.0.0.1:7300,127.0.0.1:7301,127.0.0.1:7302',
    });
    const status = await seckill<LocalClusterStatus>('status');
    expect(status).toMatchObject({ running: true, clusterState: 'ok', slotsCovered: 16_384 });
    expect(status.nodes.map((n) => [n.port, n.role, n.answers, n.clusterState])).toEqual([
      [7300, 'master', true, 'ok'],
      [7301, 'master', true, 'ok'],
      [7302, 'master', true, 'ok'],
    ]);
    const masters = (await readClusterNodes(7300)).filter((n) => n.role === 'master');
    expect(masters.flatMap((n) => n.slots).reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(16_384);

    const client = clusterClient(started.url);
    try {
      await client.set('local-cluster-test', 'hello');
      expect(await client.get('local-cluster-test')).toBe('hello');
    } finally {
      client.disconnect();
    }
  });

  it('answers "already running" to a second start and launches no other node', async () => {
    const again = await seckill<StartResult>('start');
    expect(again).toMatchObject({ alreadyRunning: true, clusterState: 'ok', url: started.url });
    expect(again.nodes.map((n) => n.pid)).toEqual(started.nodes.map((n) => n.pid));
  });

  it('keeps what was written across a stop and a start: every node exits, and the append-only files bring the keys back', async () => {
    // Keys on every master: 50 names spread over the slots.
    const keys = Array.from({ length: 50 }, (_, i) => `kept-${i}`);
    const before = clusterClient(started.url);
    try {
      await Promise.all(keys.map((key) => before.set(key, key.toUpperCase())));
    } finally {
      before.disconnect();
    }

    const stopped = await seckill<StopResult>('stop');
    expect(stopped).toMatchObject({ wasRunning: true, removed: false });
    expect(stopped.stopped.map((n) => n.port)).toEqual([7300, 7301, 7302]);
    expect(started.nodes.filter((n) => isAlive(n.pid!))).toEqual([]);
    expect(await seckill<LocalClusterStatus>('status')).toMatchObject({ running: false, clusterState: null });

    const restarted = await seckill<StartResult>('start');
    expect(restarted).toMatchObject({ alreadyRunning: false, clusterState: 'ok', slotsCovered: 16_384 });
    const after = clusterClient(restarted.url);
    try {
      expect(await Promise.all(keys.map((key) => after.get(key)))).toEqual(keys.map((key) => key.toUpperCase()));
    } finally {
      after.disconnect();
    }
  }, 60_000);
});

describe('a replica per master', () => {
  const dir = ownDir('with-replicas');

  beforeAll(async () => {
    await startLocalCluster({ dir, port: 7310, masters: 3, replicas: 1 });
  }, 60_000);

  it('has 3 masters and 3 replicas, and a killed master is replaced by its replica within 10 s; started again, the old master rejoins as a replica', async () => {
    const nodes = await readClusterNodes(7310);
    const masters = nodes.filter((n) => n.role === 'master');
    const replicas = nodes.filter((n) => n.role === 'replica');
    expect(masters).toHaveLength(3);
    expect(replicas).toHaveLength(3);
    expect(new Set(replicas.map((n) => n.masterId))).toEqual(new Set(masters.map((n) => n.id)));

    const victim = masters.find((n) => n.port !== 7310)!;
    const heir = replicas.find((n) => n.masterId === victim.id)!;
    await killNode(dir, victim.port);
    const promoted = async () => (await readClusterNodes(heir.port).catch(() => [])).find((n) => n.myself)?.role === 'master';
    await waitFor(promoted, 10_000, `the replica on ${heir.port} promoted`);
    await waitFor(async () => (await localClusterStatus({ dir })).clusterState === 'ok', 10_000, 'cluster_state ok after the failover');
    const status = await localClusterStatus({ dir });
    expect(status.slotsCovered).toBe(16_384);
    expect(status.nodes.find((n) => n.port === victim.port)).toMatchObject({ answers: false, pid: null });

    await startNode(dir, victim.port);
    const rejoined = async () => (await readClusterNodes(victim.port)).find((n) => n.myself)?.masterId === heir.id;
    await waitFor(rejoined, 20_000, `the node on ${victim.port} a replica of ${heir.port}`);
  }, 60_000);
});

describe('one master', () => {
  it('holds every slot on one node, which tells clients its own address (so a Cluster client can use it)', async () => {
    const dir = ownDir('one-master');
    const started = await startLocalCluster({ dir, port: 7320, masters: 1 });
    expect(started.url).toBe('redis-cluster://127.0.0.1:7320');
    expect(started.slotsCovered).toBe(16_384);
    const client = clusterClient(started.url);
    try {
      await client.set('{one}k', 'v');
      expect(await client.get('{one}k')).toBe('v');
    } finally {
      client.disconnect();
    }
  });
});
