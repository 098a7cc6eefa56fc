/**
 * The local Redis Cluster: redis-server nodes (7.0+, from PATH) on 127.0.0.1,
 * append-only, one state dir per node, no Docker. The only module that knows
 * how it is created, started and stopped; everything else reaches it through
 * its redis-cluster:// URL like any other cluster.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { recordedPid } from '../pid-file.js';

const HOST = '127.0.0.1';
export const DEFAULT_PORT = 7000;
export const DEFAULT_MASTERS = 3;
const SLOTS = 16_384;
/** A node's cluster bus listens on its port + 10000: both must fit below 65536. */
const BUS_OFFSET = 10_000;
/** How long a node may be unreachable before it is failed over: short, so a killed master's replica takes over in seconds. */
export const NODE_TIMEOUT_MS = 2_000;
const READY_DEADLINE_MS = 30_000;
/** Past this a node that refuses to exit on SIGTERM is killed. Above redis's own shutdown-timeout (10 s, waiting for lagging replicas). */
const STOP_DEADLINE_MS = 15_000;

export class LocalClusterError extends Error {
  readonly code = 'REDIS_CLUSTER';
}

export type Progress = (line: string) => void;

export interface LocalClusterOptions {
  /** State dir, one subdir per node; default $SECKILL_REDIS_CLUSTER_DIR or ./.seckill/redis-cluster. */
  dir?: string;
  onProgress?: Progress;
}

export interface StartOptions extends LocalClusterOptions {
  /** The shape of a new cluster (default 3 masters, no replicas, ports from 7000). A dir that holds a cluster keeps the shape it was created with. */
  masters?: number;
  replicas?: number;
  port?: number;
}

export interface StopOptions extends LocalClusterOptions {
  /** Delete the state dir (data, config, logs) once every node has exited. */
  clean?: boolean;
}

export interface LocalNode {
  port: number;
  /** What the node says it is now (a failover swaps roles); null when it does not answer. */
  role: 'master' | 'replica' | null;
  /** The node's process, when alive. */
  pid: number | null;
  answers: boolean;
  /** This node's cluster_state (ok or fail); null when it does not answer. */
  clusterState: string | null;
  logFile: string;
}

export interface LocalClusterStatus {
  dir: string;
  /** What clients use: the seed addresses of the masters as created; null when the dir holds no cluster. */
  url: string | null;
  /** Some node's process is alive. */
  running: boolean;
  /** ok when every node that answers says ok; null when none answers. */
  clusterState: 'ok' | 'fail' | null;
  /** Slots served by a reachable master, the fewest any answering node counts (16384 = all). */
  slotsCovered: number;
  nodes: LocalNode[];
}

export interface StartResult extends LocalClusterStatus {
  url: string;
  alreadyRunning: boolean;
  /** Time from launching the nodes to cluster_state:ok on all of them (0 when already running). */
  readyMs: number;
}

export interface StopResult {
  dir: string;
  wasRunning: boolean;
  stopped: { port: number; pid: number }[];
  /** The state dir was deleted (--clean). */
  removed: boolean;
}

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

/** How the cluster in a dir was created. Its nodes.conf files fix it, so it is recorded beside them for stop and status. */
interface Layout {
  port: number;
  masters: number;
  replicas: number;
}

const stateDir = (dir?: string): string => resolve(dir ?? process.env.SECKILL_REDIS_CLUSTER_DIR ?? '.seckill/redis-cluster');
const layoutFile = (dir: string): string => join(dir, 'cluster.json');

const nodePaths = (dir: string, port: number) => {
  const home = join(dir, String(port));
  return { home, config: join(home, 'redis.conf'), pidFile: join(home, 'redis.pid'), logFile: join(home, 'redis.log') };
};

type NodePaths = ReturnType<typeof nodePaths>;

const portsOf = (layout: Layout): number[] => Array.from({ length: layout.masters * (1 + layout.replicas) }, (_, i) => layout.port + i);

// redis-cli --cluster create makes the first `masters` addresses the masters.
const urlOf = (layout: Layout): string =>
  `redis-cluster://${portsOf(layout)
    .slice(0, layout.masters)
    .map((port) => `${HOST}:${port}`)
    .join(',')}`;

const shape = (layout: Layout): string =>
  `${layout.masters} masters, ${layout.replicas} replica(s) each, ports ${layout.port}-${layout.port + portsOf(layout).length - 1}`;

const readLayout = async (dir: string): Promise<Layout | null> => {
  const text = await readFile(layoutFile(dir), 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as Layout);
};

/** The layout asked for, which must be the recorded one when the dir already holds a cluster. */
const chooseLayout = async (dir: string, opts: StartOptions): Promise<Layout> => {
  const recorded = await readLayout(dir);
  const layout: Layout = {
    port: opts.port ?? recorded?.port ?? DEFAULT_PORT,
    masters: opts.masters ?? recorded?.masters ?? DEFAULT_MASTERS,
    replicas: opts.replicas ?? recorded?.replicas ?? 0,
  };
  if (recorded && (recorded.port !== layout.port || recorded.masters !== layout.masters || recorded.replicas !== layout.replicas)) {
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
  const last = layout.port + portsOf(layout).length - 1;
  if (!Number.isSafeInteger(layout.port) || layout.port < 1 || last + BUS_OFFSET > 65_535) {
    throw new LocalClusterError(`ports ${layout.port}-${last} and their cluster bus ports (+${BUS_OFFSET}) must be below 65536`);
  }
  return layout;
};

const redisConf = (node: NodePaths, port: number): string => {
  const quoted = (path: string) => JSON.stringify(path);
  return [
    '# Written by seckill redis-cluster start; edits are overwritten.',
    `port ${port}`,
    `bind ${HOST}`,
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
    `cluster-announce-ip ${HOST}`,
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

/** Runs redis-server or redis-cli to completion; their output goes into the error, not to the terminal. */
const run = (cmd: string, args: string[], timeoutMs = 10_000): Promise<string> =>
  new Promise((done, fail) => {
    execFile(cmd, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (!error) return done(stdout);
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? `${cmd} not found on PATH (the local Redis Cluster needs Redis 7: redis-server and redis-cli)`
          : `${cmd} ${args.join(' ')} failed:\n${`${stdout}${stderr}`.trim() || error.message}`;
      fail(new LocalClusterError(why));
    });
  });

/** Commands to one node over one connection; rejects when the node does not answer them (refused, loading, timed out, an error reply). */
const askRaw = async (port: number, ...commands: string[][]): Promise<unknown[]> => {
  const node = new Redis({
    host: HOST,
    port,
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
const ask = async (port: number, ...commands: string[][]): Promise<string[]> => (await askRaw(port, ...commands)).map(String);

/** The cluster as the node on `port` sees it (CLUSTER NODES), parsed. */
export const readClusterNodes = async (port: number): Promise<ClusterNode[]> => parseClusterNodes((await ask(port, ['CLUSTER', 'NODES']))[0]);

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

interface Probe {
  state: string;
  slotsOk: number;
  /** A master, or a replica whose copy of its master is live (synced and connected). */
  replicating: boolean;
  /** The cluster as this node sees it. */
  nodes: ClusterNode[];
}

/** CLUSTER INFO, INFO replication and CLUSTER NODES of one node; null when it does not answer. */
const probe = async (port: number): Promise<Probe | null> => {
  const replies = await ask(port, ['CLUSTER', 'INFO'], ['INFO', 'replication'], ['CLUSTER', 'NODES']).catch(() => null);
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
const configOf = (nodes: ClusterNode[]): string =>
  nodes
    .map((n) => `${n.id} ${n.role} ${n.masterId ?? '-'} ${n.failed ? 'failed' : 'up'} ${n.slots.map(([from, to]) => `${from}-${to}`).join(',')}`)
    .sort()
    .join('\n');

/** The recorded pid, if that process is alive and still this node: redis-server titles itself "redis-server 127.0.0.1:PORT [cluster]". */
const livePid = (node: NodePaths, port: number): Promise<number | null> => recordedPid(node.pidFile, `:${port}`);

const portAccepts = (port: number): Promise<boolean> =>
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

const sizeOf = async (file: string): Promise<number> => (await stat(file).catch(() => null))?.size ?? 0;

/** The last lines a node logged from a byte offset (this run's part). */
const tail = async (file: string, fromByte = 0, lines = 10): Promise<string> =>
  (await readFile(file).catch(() => Buffer.alloc(0))).subarray(fromByte).toString().trimEnd().split('\n').slice(-lines).join('\n');

/**
 * Launches one node (it daemonizes itself, so it outlives this process) from
 * its dir and waits until it answers PING, its data loaded. The pid file is
 * written once the ports are bound, so a node that cannot bind never writes one.
 */
const launchNode = async (dir: string, port: number): Promise<number> => {
  const node = nodePaths(dir, port);
  await mkdir(node.home, { recursive: true });
  await writeFile(node.config, redisConf(node, port));
  // A killed node leaves its pid file behind.
  await rm(node.pidFile, { force: true });
  const logFrom = await sizeOf(node.logFile);
  const launched = Date.now();
  await run('redis-server', [node.config]);
  for (;;) {
    const pid = await livePid(node, port);
    if (pid !== null && (await ask(port, ['PING']).catch(() => null))?.[0] === 'PONG') return pid;
    const waited = Date.now() - launched;
    if (pid === null && waited > 2_000) {
      throw new LocalClusterError(`the node on ${HOST}:${port} exited while starting. Last lines of ${node.logFile}:\n${await tail(node.logFile, logFrom)}`);
    }
    if (waited > READY_DEADLINE_MS) {
      throw new LocalClusterError(
        `the node on ${HOST}:${port} (pid ${pid}) did not answer within ${READY_DEADLINE_MS / 1000} s; it is left running, see ${node.logFile}:\n${await tail(node.logFile, logFrom)}`,
      );
    }
    await sleep(50);
  }
};

/**
 * Every node answers with cluster_state:ok and all slots served, every
 * replica has its master's data (one that never synced will not take over),
 * and all nodes agree on who is master and who replicates whom: redis-cli
 * makes the replicas last, and a master can still see them as empty masters
 * for a moment after cluster_state is ok. Else an error naming what is
 * missing and where to look.
 */
const waitUntilReady = async (dir: string, layout: Layout, onProgress: Progress): Promise<void> => {
  const ports = portsOf(layout);
  const deadline = Date.now() + READY_DEADLINE_MS;
  let said = false;
  for (;;) {
    const probes = await Promise.all(ports.map(probe));
    const agreed = probes[0] ? configOf(probes[0].nodes) : '';
    const lagging = ports.filter((_, i) => {
      const p = probes[i];
      return (
        !p ||
        p.state !== 'ok' ||
        p.slotsOk !== SLOTS ||
        !p.replicating ||
        p.nodes.length !== ports.length ||
        p.nodes.some((n) => n.failed) ||
        configOf(p.nodes) !== agreed
      );
    });
    if (lagging.length === 0) return;
    if (Date.now() > deadline) {
      const what = lagging.map((port) => {
        const p = probes[ports.indexOf(port)];
        if (!p) return `${port}: does not answer`;
        const failed = p.nodes.filter((n) => n.failed).map((n) => n.port);
        return (
          `${port}: cluster_state ${p.state}, ${p.slotsOk}/${SLOTS} slots, knows ${p.nodes.length}/${ports.length} nodes` +
          `${failed.length > 0 ? `, sees ${failed.join(' ')} failing` : ''}${p.replicating ? '' : ', replica not synced'}` +
          `${configOf(p.nodes) === agreed ? '' : `, disagrees with ${ports[0]} on the roles`}`
        );
      });
      const first = nodePaths(dir, lagging[0]).logFile;
      throw new LocalClusterError(
        `the cluster in ${dir} is not ok after ${READY_DEADLINE_MS / 1000} s (${what.join('; ')}); it is left running. Last lines of ${first}:\n${await tail(first)}`,
      );
    }
    if (!said)
      onProgress(
        `waiting until every node says cluster_state:ok, all ${SLOTS} slots served, replicas synced, roles agreed (up to ${READY_DEADLINE_MS / 1000} s)`,
      );
    said = true;
    await sleep(100);
  }
};

export const localClusterStatus = async (opts: LocalClusterOptions = {}): Promise<LocalClusterStatus> => {
  const dir = stateDir(opts.dir);
  const layout = await readLayout(dir);
  if (!layout) return { dir, url: null, running: false, clusterState: null, slotsCovered: 0, nodes: [] };
  const seen = await Promise.all(
    portsOf(layout).map(async (port) => {
      const node = nodePaths(dir, port);
      const [pid, info] = await Promise.all([livePid(node, port), probe(port)]);
      const role = info?.nodes.find((n) => n.myself)?.role ?? null;
      const status: LocalNode = { port, role, pid, answers: info !== null, clusterState: info?.state ?? null, logFile: node.logFile };
      return { status, info };
    }),
  );
  const answering = seen.flatMap(({ info }) => (info ? [info] : []));
  return {
    dir,
    url: urlOf(layout),
    running: seen.some(({ status }) => status.pid !== null),
    clusterState: answering.length === 0 ? null : answering.every((info) => info.state === 'ok') ? 'ok' : 'fail',
    slotsCovered: answering.length === 0 ? 0 : Math.min(...answering.map((info) => info.slotsOk)),
    nodes: seen.map(({ status }) => status),
  };
};

/**
 * Starts every node of the cluster that is not running, creates the cluster
 * the first time (restarted nodes find each other through their nodes.conf),
 * and waits until it is ok on every node. Already running is fine: it is
 * reported, after waiting for it to be ok.
 */
export const startLocalCluster = async (opts: StartOptions = {}): Promise<StartResult> => {
  const onProgress = opts.onProgress ?? (() => {});
  const dir = stateDir(opts.dir);
  const layout = await chooseLayout(dir, opts);
  const ports = portsOf(layout);
  const down: number[] = [];
  for (const port of ports) if ((await livePid(nodePaths(dir, port), port)) === null) down.push(port);

  const launched = Date.now();
  if (down.length > 0) {
    for (const port of down) {
      if (await portAccepts(port)) throw new LocalClusterError(`something else listens on ${HOST}:${port} (not a node of ${dir}); pick another --port`);
    }
    await mkdir(dir, { recursive: true });
    // Recorded before launching, so that stop and status find the nodes of a start that failed half-way.
    await writeFile(layoutFile(dir), `${JSON.stringify(layout)}\n`);
    onProgress(`starting ${down.length === ports.length ? 'all' : `${down.length} of`} ${ports.length} nodes: ${shape(layout)} (${dir})`);
    await Promise.all(down.map((port) => launchNode(dir, port)));
  }

  // A node that knows another was joined before (restarted nodes rejoin from nodes.conf): creating again would fail on non-empty nodes.
  const formed = (await Promise.all(ports.map(probe))).some((p) => p !== null && (p.nodes.length > 1 || p.nodes.some((n) => n.slots.length > 0)));
  if (!formed) {
    onProgress(`creating the cluster: ${layout.masters} master(s), ${layout.replicas} replica(s) each`);
    if (layout.masters === 1) await run('redis-cli', ['-h', HOST, '-p', String(layout.port), 'CLUSTER', 'ADDSLOTSRANGE', '0', String(SLOTS - 1)]);
    else
      await run(
        'redis-cli',
        ['--cluster', 'create', ...ports.map((port) => `${HOST}:${port}`), '--cluster-replicas', String(layout.replicas), '--cluster-yes'],
        60_000,
      );
  }
  await waitUntilReady(dir, layout, onProgress);
  const alreadyRunning = down.length === 0 && formed;
  const readyMs = alreadyRunning ? 0 : Date.now() - launched;
  onProgress(
    alreadyRunning
      ? `already running: ${shape(layout)} (${dir})`
      : `cluster_state:ok on all ${ports.length} nodes after ${(readyMs / 1000).toFixed(1)} s; REDIS_URL=${urlOf(layout)}`,
  );
  return { ...(await localClusterStatus({ dir })), url: urlOf(layout), alreadyRunning, readyMs };
};

const signalIfAlive = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(pid, signal);
  } catch (error) {
    // It exited between the check and the signal: that is what we wanted.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
};

/** Resending SIGTERM this often: redis drops a shutdown it cannot do yet (see stopNode). */
const TERM_REPEAT_MS = 1_000;

/**
 * SIGTERM (redis fsyncs its append-only file and exits; no snapshot is
 * configured) and waits for the exit. A node still writing its first
 * append-only file (a replica just after a full sync) answers "can't exit" and
 * carries on, so SIGTERM is sent again every second; SIGKILL past the deadline.
 */
const stopNode = async (dir: string, port: number, pid: number, onProgress: Progress): Promise<void> => {
  const node = nodePaths(dir, port);
  const deadline = Date.now() + STOP_DEADLINE_MS;
  let termAt = 0;
  while ((await livePid(node, port)) === pid) {
    if (Date.now() > deadline) {
      onProgress(`node ${port} (pid ${pid}) still alive after ${STOP_DEADLINE_MS / 1000} s: SIGKILL`);
      signalIfAlive(pid, 'SIGKILL');
      while ((await livePid(node, port)) === pid) await sleep(50);
      return;
    }
    if (Date.now() - termAt >= TERM_REPEAT_MS) {
      signalIfAlive(pid, 'SIGTERM');
      termAt = Date.now();
    }
    await sleep(50);
  }
};

/** Stops every node of the dir and waits until each has exited; the data stays unless `clean`. Stopping a stopped cluster is fine. */
export const stopLocalCluster = async (opts: StopOptions = {}): Promise<StopResult> => {
  const onProgress = opts.onProgress ?? (() => {});
  const dir = stateDir(opts.dir);
  const layout = await readLayout(dir);
  const ports = layout ? portsOf(layout) : [];
  const alive = await Promise.all(ports.map(async (port) => ({ port, pid: await livePid(nodePaths(dir, port), port) })));
  const stopped = alive.flatMap(({ port, pid }) => (pid === null ? [] : [{ port, pid }]));
  if (stopped.length > 0) {
    onProgress(`stopping ${stopped.length} node(s): ${stopped.map(({ port, pid }) => `${port} (pid ${pid})`).join(', ')}`);
    await Promise.all(stopped.map(({ port, pid }) => stopNode(dir, port, pid, onProgress)));
    onProgress('stopped');
  } else {
    onProgress(`not running (${dir})`);
  }
  if (opts.clean && existsSync(dir)) {
    await rm(dir, { recursive: true, force: true });
    onProgress(`removed ${dir}`);
  }
  return { dir, wasRunning: stopped.length > 0, stopped, removed: Boolean(opts.clean) };
};

/** SIGKILLs one node (a crash: no shutdown, no final fsync) and waits until it is gone; returns its pid. For failover faults and tests. */
export const killNode = async (dir: string, port: number): Promise<number> => {
  const node = nodePaths(stateDir(dir), port);
  const pid = await livePid(node, port);
  if (pid === null) throw new LocalClusterError(`no node runs on port ${port} of ${stateDir(dir)}`);
  signalIfAlive(pid, 'SIGKILL');
  while ((await livePid(node, port)) === pid) await sleep(20);
  return pid;
};

/**
 * Sends a signal to one running node (SIGSTOP: it stalls, answering nothing,
 * as a process in a long GC pause or a VM frozen by its host; SIGCONT: it
 * goes on where it stopped). Returns its pid. For the pause fault and tests.
 */
export const signalNode = async (dir: string, port: number, signal: 'SIGSTOP' | 'SIGCONT'): Promise<number> => {
  const pid = await livePid(nodePaths(stateDir(dir), port), port);
  if (pid === null) throw new LocalClusterError(`no node runs on port ${port} of ${stateDir(dir)}`);
  process.kill(pid, signal);
  return pid;
};

/**
 * Waits until every node of the dir's cluster agrees again (after a failover:
 * the old master back as a replica, synced), as a start does; an error naming
 * what is missing past the deadline.
 */
export const waitForAgreement = async (dir: string, onProgress: Progress = () => {}): Promise<void> => {
  const at = stateDir(dir);
  const layout = await readLayout(at);
  if (!layout) throw new LocalClusterError(`no cluster in ${at}`);
  await waitUntilReady(at, layout, onProgress);
};

/**
 * Starts one stopped or killed node again from its dir, with the same config,
 * and waits until it answers (not until the cluster is ok: a master that was
 * failed over rejoins as a replica a moment later). Returns its pid; a node
 * already running is left as it is.
 */
export const startNode = async (dir: string, port: number): Promise<number> => {
  const at = stateDir(dir);
  const node = nodePaths(at, port);
  if (!existsSync(join(node.home, 'nodes.conf'))) throw new LocalClusterError(`no node on port ${port} in ${at}: start the cluster first`);
  return (await livePid(node, port)) ?? (await launchNode(at, port));
};

/**
 * Moves one slot, with its keys, from the master on `fromPort` to the master
 * on `toPort` while clients keep using it — a resharding, as `redis-cli
 * --cluster reshard` does it: the target imports, the source migrates, keys
 * are MIGRATEd in batches (clients meanwhile get ASK or TRYAGAIN), then
 * every master is told the slot's new owner. Resolves with the keys moved.
 */
export const migrateSlot = async (slot: number, fromPort: number, toPort: number): Promise<number> => {
  const nodes = await readClusterNodes(fromPort);
  const from = nodes.find((n) => n.port === fromPort && n.role === 'master');
  const to = nodes.find((n) => n.port === toPort && n.role === 'master');
  if (!from || !to) throw new LocalClusterError(`ports ${fromPort} and ${toPort} must both be masters to move slot ${slot}`);
  await ask(toPort, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id]);
  await ask(fromPort, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id]);
  let moved = 0;
  for (;;) {
    const [listed] = await askRaw(fromPort, ['CLUSTER', 'GETKEYSINSLOT', String(slot), '100']);
    const keys = listed as string[];
    if (keys.length === 0) break;
    await ask(fromPort, ['MIGRATE', HOST, String(toPort), '', '0', '5000', 'KEYS', ...keys]);
    moved += keys.length;
  }
  // The new owner first, then the old, then everyone else (the order redis-cli uses).
  const masters = nodes.filter((n) => n.role === 'master' && !n.failed);
  for (const port of [toPort, fromPort, ...masters.map((n) => n.port).filter((p) => p !== toPort && p !== fromPort)]) {
    await ask(port, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id]);
  }
  return moved;
};
