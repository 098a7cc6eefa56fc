/**
 * Asking one node of a local Redis Cluster, over a connection of its own that
 * neither waits nor reconnects (a probe says what is true now): CLUSTER NODES
 * parsed, and what a start or a status needs to see of it.
 */
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { HOST, type NodeTarget } from './layout.js';

/** One line of CLUSTER NODES, as the node asked sees the cluster. */
export interface ClusterNode {
  id: string;
  host: string;
  port: number;
  role: 'master' | 'replica';
  /** A replica's master; null for a master. */
  masterId: string | null;
  /** The node that was asked. */
  myself: boolean;
  /** Flagged fail (agreed down by the masters) or fail? (unreachable from the node asked). */
  failed: boolean;
  /** The raw flags: myself, master, slave, fail?, fail, handshake, noaddr, nofailover. */
  flags: string[];
  linkState: 'connected' | 'disconnected';
  /** Slot ranges it serves, both ends included; empty for a replica. */
  slots: [number, number][];
}

/** Commands to one node over one connection; rejects when the node does not answer them (refused, loading, timed out, an error reply). */
export const askRaw = async (target: NodeTarget, ...commands: string[][]): Promise<unknown[]> => {
  const node = new Redis({
    ...(typeof target === 'number' ? { host: HOST, port: target } : { path: target.socket }),
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
    // No waiting for a loading node and no reconnecting: a probe says what is true now.
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  node.on('error', () => {}); // the rejected connect or command says why
  try {
    await node.connect();
    return await Promise.all(commands.map(([command, ...args]) => node.call(command, ...args)));
  } finally {
    node.disconnect();
  }
};

/** askRaw, every reply as text. */
export const ask = async (target: NodeTarget, ...commands: string[][]): Promise<string[]> => (await askRaw(target, ...commands)).map(String);

/** The cluster as the node on `target` (a port of 127.0.0.1, or a placed node: see nodeTarget) sees it (CLUSTER NODES), parsed. */
export const readClusterNodes = async (target: NodeTarget): Promise<ClusterNode[]> => parseClusterNodes((await ask(target, ['CLUSTER', 'NODES']))[0]);

const parseClusterNodes = (text: string): ClusterNode[] =>
  text
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', address = '', flagList = '', master = '-', , , , link, ...slots] = line.trim().split(' ');
      const flags = flagList.split(',');
      // host:port@busport[,hostname]
      const at = /^(.*):(\d+)@/.exec(address);
      return {
        id,
        host: at?.[1] || HOST,
        port: Number(at?.[2] ?? 0),
        role: flags.includes('slave') ? 'replica' : 'master',
        masterId: master === '-' ? null : master,
        myself: flags.includes('myself'),
        failed: flags.includes('fail') || flags.includes('fail?'),
        flags,
        linkState: link === 'connected' ? 'connected' : 'disconnected',
        // [slot->-id] and [slot-<-id] are slots being migrated: not served yet.
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range): [number, number] => {
            const [from, to = from] = range.split('-').map(Number);
            return [from, to];
          }),
      } satisfies ClusterNode;
    });

export interface Probe {
  state: string;
  slotsOk: number;
  /** A master, or a replica whose copy of its master is live (synced and connected). */
  replicating: boolean;
  /** The cluster as this node sees it. */
  nodes: ClusterNode[];
}

/** CLUSTER INFO, INFO replication and CLUSTER NODES of one node; null when it does not answer. */
export const probe = async (target: NodeTarget): Promise<Probe | null> => {
  const replies = await ask(target, ['CLUSTER', 'INFO'], ['INFO', 'replication'], ['CLUSTER', 'NODES']).catch(() => null);
  if (replies === null) return null;
  const [cluster = '', replication = '', nodes = ''] = replies;
  const field = (info: string, name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? '';
  return {
    state: field(cluster, 'cluster_state'),
    slotsOk: Number(field(cluster, 'cluster_slots_ok')),
    replicating: field(replication, 'role') === 'master' || field(replication, 'master_link_status') === 'up',
    nodes: parseClusterNodes(nodes),
  };
};

/** Who serves which slots and who replicates whom, as one node believes it: the same text on every node once they agree. */
export const configOf = (nodes: ClusterNode[]): string =>
  nodes
    .map((n) => `${n.id} ${n.role} ${n.masterId ?? '-'} ${n.failed ? 'failed' : 'up'} ${n.slots.map(([from, to]) => `${from}-${to}`).join(',')}`)
    .sort()
    .join('\n');

export const portAccepts = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const socket = connect({ port, host: HOST });
    socket.setTimeout(1_000, () => {
      socket.destroy();
      done(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
