import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { killNode, readClusterNodes, startLocalCluster, startNode, stopLocalCluster } from '../redis/local-cluster.js';
import { skuKeys } from '../redis/keys.js';
import type { RedisClusterControl } from './faults.js';

/** First port of bench's own cluster: apart from a developer's (7000) and the test suite's (7100). */
const BASE_PORT = 7200;
const FAILOVER_DEADLINE_MS = 30_000;

export interface ClusterShape {
  masters: number;
  replicas: number;
}

/**
 * A Redis Cluster of bench's own for one run (`--redis-cluster`), started
 * with the project's local-cluster runner in a fresh dir and removed after:
 * bench may kill its masters (the kill-redis-master fault), never those of a
 * cluster it was given.
 */
export class OwnRedisCluster implements RedisClusterControl {
  private constructor(
    readonly url: string,
    readonly dir: string,
    readonly shape: ClusterShape,
    /** the run's first SKU: the fault kills the master that holds it */
    private readonly sku: string,
  ) {}

  get replicas(): number {
    return this.shape.replicas;
  }

  static async start(shape: ClusterShape, sku: string, onProgress: (line: string) => void): Promise<OwnRedisCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'seckill-bench-cluster-'));
    try {
      const started = await startLocalCluster({ dir, port: BASE_PORT, masters: shape.masters, replicas: shape.replicas, onProgress });
      return new OwnRedisCluster(started.url, dir, shape, sku);
    } catch (error) {
      await stopLocalCluster({ dir, clean: true }).catch(() => {});
      throw error;
    }
  }

  async killMaster(): Promise<number> {
    const master = await this.masterOf(this.sku);
    await killNode(this.dir, master.port);
    // Taken over once another node answers as master for the SKU's slot.
    const deadline = Date.now() + FAILOVER_DEADLINE_MS;
    for (;;) {
      const now = await this.masterOf(this.sku, master.port).catch(() => null);
      if (now !== null && now.port !== master.port) return master.port;
      if (Date.now() > deadline) throw new Error(`no replica took over from the master on port ${master.port} within ${FAILOVER_DEADLINE_MS / 1000} s`);
      await sleep(200);
    }
  }

  async restart(port: number): Promise<void> {
    await startNode(this.dir, port);
  }

  async stop(): Promise<void> {
    await stopLocalCluster({ dir: this.dir, clean: true });
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The master that serves `sku`'s slot, asked of a node other than `avoid` (a node just killed). */
  private async masterOf(sku: string, avoid?: number) {
    const nodes = await readClusterNodes(this.anyPortBut(avoid));
    const slot = await slotOf(skuKeys(sku).stock, this.anyPortBut(avoid));
    const master = nodes.find((n) => n.role === 'master' && !n.failed && n.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!master) throw new Error(`no master serves slot ${slot}`);
    return master;
  }

  private anyPortBut(avoid?: number): number {
    return avoid === BASE_PORT ? BASE_PORT + 1 : BASE_PORT;
  }
}

const slotOf = async (key: string, port: number): Promise<number> => {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    return Number(await redis.cluster('KEYSLOT', key));
  } finally {
    redis.disconnect();
  }
};
