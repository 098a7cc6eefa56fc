import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { killNode, readClusterNodes, signalNode, startLocalCluster, startNode, stopLocalCluster, waitForAgreement } from '../../redis/local-cluster.js';
import { skuKeys } from '../../redis/keys.js';
import type { PausedMaster, RedisClusterControl } from '../faults/targets.js';

/** First port of bench's own cluster by default: apart from a developer's (7000) and the test suite's (7100). */
export const DEFAULT_BENCH_CLUSTER_PORT = 7200;
const FAILOVER_DEADLINE_MS = 30_000;

export interface ClusterShape {
  masters: number;
  replicas: number;
  /** its first port (the nodes take the ports after it); default DEFAULT_BENCH_CLUSTER_PORT */
  port?: number;
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
    /** the run's first SKU: the faults kill or pause the master that holds it */
    private readonly sku: string,
  ) {}

  private get basePort(): number {
    return this.shape.port ?? DEFAULT_BENCH_CLUSTER_PORT;
  }

  get replicas(): number {
    return this.shape.replicas;
  }

  static async start(shape: ClusterShape, sku: string, onProgress: (line: string) => void): Promise<OwnRedisCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'seckill-bench-cluster-'));
    try {
      const started = await startLocalCluster({
        dir,
        port: shape.port ?? DEFAULT_BENCH_CLUSTER_PORT,
        masters: shape.masters,
        replicas: shape.replicas,
        onProgress,
      });
      return new OwnRedisCluster(started.url, dir, shape, sku);
    } catch (error) {
      await stopLocalCluster({ dir, clean: true }).catch(() => {});
      throw error;
    }
  }

  async killMaster(): Promise<number> {
    const master = await this.masterOf(this.sku);
    await killNode(this.dir, master.port);
    await this.takenOver(master.port);
    return master.port;
  }

  async pauseMaster(): Promise<PausedMaster> {
    const master = await this.masterOf(this.sku);
    await signalNode(this.dir, master.port, 'SIGSTOP');
    const pausedAt = Date.now();
    let resumed = false;
    return {
      port: master.port,
      takenOver: () => this.takenOver(master.port),
      resume: async () => {
        if (!resumed) await signalNode(this.dir, master.port, 'SIGCONT');
        resumed = true;
        return Date.now() - pausedAt;
      },
    };
  }

  async untilAgreed(): Promise<void> {
    await waitForAgreement(this.dir);
  }

  /** Resolves, with its port, once another node than `port` answers as the master of the SKU's slot. */
  private async takenOver(port: number): Promise<number> {
    const deadline = Date.now() + FAILOVER_DEADLINE_MS;
    for (;;) {
      const now = await this.masterOf(this.sku, port).catch(() => null);
      if (now !== null && now.port !== port) return now.port;
      if (Date.now() > deadline) throw new Error(`no replica took over from the master on port ${port} within ${FAILOVER_DEADLINE_MS / 1000} s`);
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
    return avoid === this.basePort ? this.basePort + 1 : this.basePort;
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
