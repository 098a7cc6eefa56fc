/**
 * How a local Redis Cluster lies in its state dir: its shape (ports, masters,
 * replicas), each node's files, and the redis.conf every node runs with.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const HOST = '127.0.0.1';
export const DEFAULT_PORT = 7000;
export const DEFAULT_MASTERS = 3;
/** A node's cluster bus listens on its port + 10000: both must fit below 65536. */
const BUS_OFFSET = 10_000;
/** How long a node may be unreachable before it is failed over: short, so a killed master's replica takes over in seconds. */
export const NODE_TIMEOUT_MS = 2_000;
export class LocalClusterError extends Error {
  readonly code = 'REDIS_CLUSTER';
}

/**
 * Where one node runs when not on this machine's 127.0.0.1: a host of the lab
 * (src/lab/), i.e. an address the node binds and announces, and the command
 * prefix that starts a process there (`ip netns exec <ns>`).
 */
export interface NodePlacement {
  host: string;
  launcher: string[];
}

/** The shape a start asks for; a dir that holds a cluster keeps the shape it was created with. */
export interface LayoutWanted {
  masters?: number;
  replicas?: number;
  port?: number;
  /** One per node, in port order (the first `masters` become the masters); absent: every node on 127.0.0.1. */
  nodes?: NodePlacement[];
}

/** How the cluster in a dir was created. Its nodes.conf files fix it, so it is recorded beside them for stop and status. */
export interface Layout {
  port: number;
  masters: number;
  replicas: number;
  nodes?: NodePlacement[];
}

export const stateDir = (dir?: string): string => resolve(dir ?? process.env.SECKILL_REDIS_CLUSTER_DIR ?? '.seckill/redis-cluster');
export const layoutFile = (dir: string): string => join(dir, 'cluster.json');

export const nodePaths = (dir: string, port: number) => {
  const home = join(dir, String(port));
  return {
    home,
    config: join(home, 'redis.conf'),
    pidFile: join(home, 'redis.pid'),
    logFile: join(home, 'redis.log'),
    // A placed node is asked through this: a unix socket is a file, reachable from any network namespace (the root one cannot reach lab addresses).
    socket: join(home, 'redis.sock'),
  };
};

export type NodePaths = ReturnType<typeof nodePaths>;

export const portsOf = (layout: Layout): number[] => Array.from({ length: layout.masters * (1 + layout.replicas) }, (_, i) => layout.port + i);

/** The address the node on `port` binds and announces. Each node keeps its own port also when placed, so a port still names one node. */
export const hostOf = (layout: Layout, port: number): string => layout.nodes?.[port - layout.port]?.host ?? HOST;

/** The command prefix that starts a process where the node on `port` runs (nothing on this machine). */
export const launcherOf = (layout: Layout, port: number): string[] => layout.nodes?.[port - layout.port]?.launcher ?? [];

/** How to ask the node on `port`: 127.0.0.1:port, or for a placed node its unix socket (see nodePaths). */
export type NodeTarget = number | { port: number; host: string; socket: string };

export const targetOf = (dir: string, layout: Layout, port: number): NodeTarget =>
  layout.nodes ? { port, host: hostOf(layout, port), socket: nodePaths(dir, port).socket } : port;

// redis-cli --cluster create makes the first `masters` addresses the masters.
export const urlOf = (layout: Layout): string =>
  `redis-cluster://${portsOf(layout)
    .slice(0, layout.masters)
    .map((port) => `${hostOf(layout, port)}:${port}`)
    .join(',')}`;

export const shape = (layout: Layout): string =>
  `${layout.masters} masters, ${layout.replicas} replica(s) each, ports ${layout.port}-${layout.port + portsOf(layout).length - 1}` +
  (layout.nodes ? ` on ${layout.nodes.map((n) => n.host).join(' ')}` : '');

export const readLayout = async (dir: string): Promise<Layout | null> => {
  const text = await readFile(layoutFile(dir), 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as Layout);
};

/** The layout asked for, which must be the recorded one when the dir already holds a cluster. */
export const chooseLayout = async (dir: string, opts: LayoutWanted): Promise<Layout> => {
  const recorded = await readLayout(dir);
  const layout: Layout = {
    port: opts.port ?? recorded?.port ?? DEFAULT_PORT,
    masters: opts.masters ?? recorded?.masters ?? DEFAULT_MASTERS,
    replicas: opts.replicas ?? recorded?.replicas ?? 0,
  };
  const nodes = opts.nodes ?? recorded?.nodes;
  // Only a placed layout records its placement: a 127.0.0.1 cluster.json stays as it always was.
  if (nodes) layout.nodes = nodes;
  const hostsOf = (l: Layout) => (l.nodes ?? []).map((n) => n.host).join(' ');
  if (
    recorded &&
    (recorded.port !== layout.port || recorded.masters !== layout.masters || recorded.replicas !== layout.replicas || hostsOf(recorded) !== hostsOf(layout))
  ) {
    throw new LocalClusterError(
      `the cluster in ${dir} was created with ${shape(recorded)}, and its nodes keep that shape; ` +
        `start it without --port/--masters/--replicas, or use another --dir (or stop --clean, losing its data) for ${shape(layout)}`,
    );
  }
  // redis-cli refuses to create a cluster of fewer than 3 masters; one master (every slot on one node) is made by hand, for comparing 1 and N masters.
  if (!Number.isSafeInteger(layout.masters) || (layout.masters !== 1 && layout.masters < 3)) {
    throw new LocalClusterError(`a Redis Cluster has 1 master or at least 3, got ${layout.masters}`);
  }
  if (layout.masters === 1 && layout.replicas !== 0) throw new LocalClusterError('a one-master cluster runs without replicas here (--replicas 0)');
  if (!Number.isSafeInteger(layout.replicas) || layout.replicas < 0)
    throw new LocalClusterError(`replicas per master must be 0 or more, got ${layout.replicas}`);
  if (layout.nodes && layout.nodes.length !== portsOf(layout).length)
    throw new LocalClusterError(`${portsOf(layout).length} nodes need ${portsOf(layout).length} placements, got ${layout.nodes.length}`);
  // sun_path holds 108 bytes on Linux (104 on macOS).
  if (layout.nodes && Buffer.byteLength(nodePaths(dir, layout.port).socket) > 100)
    throw new LocalClusterError(`the state dir ${dir} is too long for the nodes' unix sockets (at most ~80 characters)`);
  const last = layout.port + portsOf(layout).length - 1;
  if (!Number.isSafeInteger(layout.port) || layout.port < 1 || last + BUS_OFFSET > 65_535) {
    throw new LocalClusterError(`ports ${layout.port}-${last} and their cluster bus ports (+${BUS_OFFSET}) must be below 65536`);
  }
  return layout;
};

/** The node's redis.conf; `host` is the address it binds and announces (a lab host's, when placed; then it also listens on its unix socket). */
export const redisConf = (node: NodePaths, port: number, host = HOST): string => {
  const quoted = (path: string) => JSON.stringify(path);
  return [
    '# Written by seckill redis-cluster start; edits are overwritten.',
    `port ${port}`,
    `bind ${host}`,
    ...(host === HOST ? [] : [`unixsocket ${quoted(node.socket)}`, 'unixsocketperm 700']),
    'protected-mode no',
    'daemonize yes',
    `dir ${quoted(node.home)}`,
    `pidfile ${quoted(node.pidFile)}`,
    `logfile ${quoted(node.logFile)}`,
    'cluster-enabled yes',
    // Relative to dir: the node's identity and its view of the cluster, kept across restarts.
    'cluster-config-file nodes.conf',
    `cluster-node-timeout ${NODE_TIMEOUT_MS}`,
    // A node learns its own address from the others' MEET; a one-master cluster has no others and would tell clients "".
    `cluster-announce-ip ${host}`,
    // A replica copies its master at once rather than after redis's default 5 s wait for other replicas to share
    // the transfer: one that never synced refuses to take over, so until then its master's failure is not covered.
    'repl-diskless-sync-delay 0',
    // What a stopped or killed node had is on disk when it starts again (at most a second lost); no RDB snapshots.
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    '',
  ].join('\n');
};
