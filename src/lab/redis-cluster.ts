/**
 * A Redis Cluster whose nodes each run in a host of the lab: the project's
 * own runner (src/redis/local-cluster.ts) with every node placed — binding and
 * announcing its host's address, started through its host's launcher, asked
 * from here through its unix socket (the root namespace cannot reach lab
 * addresses). Clients must run inside the lab (LabHost.runNode / exec).
 */
import { nodeTarget, startLocalCluster, stopLocalCluster, type NodeTarget, type Progress, type StartResult } from '../redis/local-cluster.js';
import type { Lab, LabHost } from './network.js';

export interface LabRedisClusterOptions {
  /** One host per node, in port order: the first `masters` are made the masters, then their replicas. */
  hosts: string[];
  /** The cluster's state dir (short: it holds the nodes' unix sockets). */
  dir: string;
  masters?: number;
  replicas?: number;
  /** The first node's port; node i listens on port + i (in its own host), so a port still names one node. */
  port?: number;
  onProgress?: Progress;
}

export interface LabRedisNode {
  port: number;
  host: LabHost;
  /** How to ask it from here (readClusterNodes, probe): its unix socket. */
  target: NodeTarget;
}

export interface LabRedisCluster {
  dir: string;
  /** redis-cluster://<lab address>:<port>,… — for clients inside the lab. */
  url: string;
  nodes: LabRedisNode[];
  /** The node in that lab host. */
  nodeIn(host: string): LabRedisNode;
  started: StartResult;
  /** Stops the nodes (SIGTERM, then SIGKILL); `clean` deletes the dir. Destroying the lab kills them too. */
  stop(clean?: boolean): Promise<void>;
}

export const startLabRedisCluster = async (lab: Lab, opts: LabRedisClusterOptions): Promise<LabRedisCluster> => {
  const { hosts, dir, masters = 3, replicas = 1, port = 7000, onProgress } = opts;
  const placed = hosts.map((name) => lab.host(name));
  const started = await startLocalCluster({
    dir,
    port,
    masters,
    replicas,
    onProgress,
    nodes: placed.map((host) => ({ host: host.address, launcher: host.argv([]) })),
  });
  const nodes = await Promise.all(placed.map(async (host, i) => ({ port: port + i, host, target: await nodeTarget(dir, port + i) })));
  return {
    dir,
    url: started.url,
    nodes,
    started,
    nodeIn: (name) => {
      const node = nodes.find((n) => n.host.name === name);
      if (!node) throw new Error(`no Redis node in lab host ${name}`);
      return node;
    },
    stop: async (clean = false) => void (await stopLocalCluster({ dir, clean })),
  };
};
