/**
 * The local Redis Cluster: redis-server nodes (7.0+, from PATH) on 127.0.0.1,
 * append-only, one state dir per node, no Docker — or, given `nodes`, each
 * node in a host of the lab (src/lab/): binding and announcing that host's
 * address, started through its launcher, asked through its unix socket. The only module that knows
 * how it is created, started and stopped; everything else reaches it through
 * its redis-cluster:// URL like any other cluster.
 *
 * This file is the nodes' lifecycle (launch, wait until the cluster agrees,
 * status, stop, a node killed, paused or started again); how the dir is laid
 * out, how a node is asked, and a resharding are in local-cluster/. Over 300
 * lines because the lifecycle is one idea: its steps share the waits.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { logSince, recordedPid, signalIfAlive, sizeOf, stopUntilGone } from '../local-process.js';

import {
  chooseLayout,
  hostOf,
  type Layout,
  launcherOf,
  layoutFile,
  LocalClusterError,
  type LayoutWanted,
  nodePaths,
  type NodePaths,
  type NodeTarget,
  portsOf,
  readLayout,
  redisConf,
  shape,
  stateDir,
  targetOf,
  urlOf,
} from './local-cluster/layout.js';
import { ask, configOf, portAccepts, probe } from './local-cluster/nodes.js';

export { DEFAULT_MASTERS, DEFAULT_PORT, LocalClusterError, NODE_TIMEOUT_MS, type NodePlacement, type NodeTarget } from './local-cluster/layout.js';
export { readClusterNodes, type ClusterNode } from './local-cluster/nodes.js';
export { migrateSlot } from './local-cluster/reshard.js';

/** Slots of a Redis Cluster. */
const SLOTS = 16_384;

const READY_DEADLINE_MS = 30_000;
/** Past this a node that refuses to exit on SIGTERM is killed. Above redis's own shutdown-timeout (10 s, waiting for lagging replicas). */
const STOP_DEADLINE_MS = 15_000;

export type Progress = (line: string) => void;

export interface LocalClusterOptions {
  /** State dir, one subdir per node; default $SECKILL_REDIS_CLUSTER_DIR or ./.seckill/redis-cluster. */
  dir?: string;
  onProgress?: Progress;
}

/** The shape of a new cluster (default 3 masters, no replicas, ports from 7000). A dir that holds a cluster keeps the shape it was created with. */
export interface StartOptions extends LocalClusterOptions, LayoutWanted {}

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

/** Runs redis-server or redis-cli to completion, after a placed node's launcher; their output goes into the error, not to the terminal. */
const run = (launcher: string[], cmd: string, args: string[], timeoutMs = 10_000): Promise<string> =>
  new Promise((done, fail) => {
    const [first, ...rest] = [...launcher, cmd, ...args];
    execFile(first, rest, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (!error) return done(stdout);
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? `${cmd} not found on PATH (the local Redis Cluster needs Redis 7: redis-server and redis-cli)`
          : `${cmd} ${args.join(' ')} failed:\n${`${stdout}${stderr}`.trim() || error.message}`;
      fail(new LocalClusterError(why));
    });
  });

/** The recorded pid, if that process is alive and still this node: redis-server titles itself "redis-server 127.0.0.1:PORT [cluster]". */
const livePid = (node: NodePaths, port: number): Promise<number | null> => recordedPid(node.pidFile, `:${port}`);

/** The last lines a node logged from a byte offset (this run's part). */
const tail = (file: string, fromByte = 0, lines = 10): Promise<string> => logSince(file, fromByte, lines);

/**
 * Launches one node (it daemonizes itself, so it outlives this process) from
 * its dir and waits until it answers PING, its data loaded. The pid file is
 * written once the ports are bound, so a node that cannot bind never writes one.
 */
const launchNode = async (dir: string, layout: Layout, port: number): Promise<number> => {
  const node = nodePaths(dir, port);
  const host = hostOf(layout, port);
  const target = targetOf(dir, layout, port);
  await mkdir(node.home, { recursive: true });
  await writeFile(node.config, redisConf(node, port, host));
  // A killed node leaves its pid file behind.
  await rm(node.pidFile, { force: true });
  const logFrom = await sizeOf(node.logFile);
  const launched = Date.now();
  // Placed in a lab host, redis-server daemonizes there: its pid file holds the pid, as on this machine.
  await run(launcherOf(layout, port), 'redis-server', [node.config]);
  for (;;) {
    const pid = await livePid(node, port);
    if (pid !== null && (await ask(target, ['PING']).catch(() => null))?.[0] === 'PONG') return pid;
    const waited = Date.now() - launched;
    if (pid === null && waited > 2_000) {
      throw new LocalClusterError(`the node on ${host}:${port} exited while starting. Last lines of ${node.logFile}:\n${await tail(node.logFile, logFrom)}`);
    }
    if (waited > READY_DEADLINE_MS) {
      throw new LocalClusterError(
        `the node on ${host}:${port} (pid ${pid}) did not answer within ${READY_DEADLINE_MS / 1000} s; it is left running, see ${node.logFile}:\n${await tail(node.logFile, logFrom)}`,
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
    const probes = await Promise.all(ports.map((port) => probe(targetOf(dir, layout, port))));
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
      const [pid, info] = await Promise.all([livePid(node, port), probe(targetOf(dir, layout, port))]);
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
    // A placed node has its host's address to itself; on 127.0.0.1 another program may hold the port.
    for (const port of layout.nodes ? [] : down) {
      if (await portAccepts(port))
        throw new LocalClusterError(`something else listens on ${hostOf(layout, port)}:${port} (not a node of ${dir}); pick another --port`);
    }
    await mkdir(dir, { recursive: true });
    // Recorded before launching, so that stop and status find the nodes of a start that failed half-way.
    await writeFile(layoutFile(dir), `${JSON.stringify(layout)}\n`);
    onProgress(`starting ${down.length === ports.length ? 'all' : `${down.length} of`} ${ports.length} nodes: ${shape(layout)} (${dir})`);
    await Promise.all(down.map((port) => launchNode(dir, layout, port)));
  }

  // A node that knows another was joined before (restarted nodes rejoin from nodes.conf): creating again would fail on non-empty nodes.
  const formed = (await Promise.all(ports.map((port) => probe(targetOf(dir, layout, port))))).some(
    (p) => p !== null && (p.nodes.length > 1 || p.nodes.some((n) => n.slots.length > 0)),
  );
  if (!formed) {
    onProgress(`creating the cluster: ${layout.masters} master(s), ${layout.replicas} replica(s) each`);
    if (layout.masters === 1) await ask(targetOf(dir, layout, layout.port), ['CLUSTER', 'ADDSLOTSRANGE', '0', String(SLOTS - 1)]);
    else
      // From where the first node runs: placed nodes are reached by their addresses only from inside the lab.
      await run(
        launcherOf(layout, layout.port),
        'redis-cli',
        ['--cluster', 'create', ...ports.map((port) => `${hostOf(layout, port)}:${port}`), '--cluster-replicas', String(layout.replicas), '--cluster-yes'],
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
  await stopUntilGone(pid, {
    stillRunning: async () => (await livePid(node, port)) === pid,
    deadlineMs: STOP_DEADLINE_MS,
    repeatTermMs: TERM_REPEAT_MS,
    onKill: () => onProgress(`node ${port} (pid ${pid}) still alive after ${STOP_DEADLINE_MS / 1000} s: SIGKILL`),
  });
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
  const layout = await readLayout(at);
  if (!layout || !existsSync(join(node.home, 'nodes.conf'))) throw new LocalClusterError(`no node on port ${port} in ${at}: start the cluster first`);
  return (await livePid(node, port)) ?? (await launchNode(at, layout, port));
};

/** How to ask the node on `port` of the dir's cluster (for readClusterNodes): its port, or a placed node's unix socket. */
export const nodeTarget = async (dir: string, port: number): Promise<NodeTarget> => {
  const at = stateDir(dir);
  const layout = await readLayout(at);
  if (!layout) throw new LocalClusterError(`no cluster in ${at}`);
  return targetOf(at, layout, port);
};
