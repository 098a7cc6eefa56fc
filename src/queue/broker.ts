/**
 * The local Kafka cluster, as `seckill kafka start|stop|status` and bench use
 * it: one KRaft node by default, or several (`brokers`), each broker and
 * controller in one JVM, run from Maven Central jars, no Docker. Each node
 * may listen on an address of its own and be launched through an argv prefix
 * (a network namespace of the lab). With KAFKA_BROKERS set, a cluster is
 * given and nothing here starts or stops anything.
 *
 * One node keeps its files in the state dir itself; a cluster keeps one
 * sub-dir per node (node-1, node-2, …). nodes.json records the nodes a start
 * made, so stop and status find them all.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ensureKafkaJars, javaArgs, BrokerError, type Progress } from './broker/jars.js';
import { formattedClusterId, launchNode, livePid, newClusterId, nodeAnswers, nodeFiles, stopNode, waitUntilAnswers } from './broker/node.js';
import { brokerAnswers } from './broker/probe.js';
import { portFromConfig, type NodeSpec } from './broker/properties.js';

export { KAFKA_VERSION, ensureKafkaJars, BrokerError, type Progress } from './broker/jars.js';

export const DEFAULT_PORT = 9092;
const HOST = '127.0.0.1';
/** The most nodes `--brokers` starts: a quorum of more controllers buys nothing on one machine. */
export const MAX_BROKERS = 9;

/** Where and how one node runs; every field has a default. */
export interface BrokerNodeOptions {
  /** the address it listens on and advertises; default 127.0.0.1 */
  host?: string;
  /** client port; default the cluster's port + 2 × (node index) */
  port?: number;
  /** controller port; default its client port + 1 */
  controllerPort?: number;
  /** argv prefix the JVM is started through, e.g. ['ip', 'netns', 'exec', 'ns-name']; it must exec the JVM (so the pid is the broker's own) */
  launcher?: string[];
}

export interface BrokerOptions {
  /** State dir (config, data, logs, pid; a sub-dir per node of a cluster); default $SECKILL_KAFKA_DIR or ./.seckill/kafka. */
  dir?: string;
  /**
   * Client port of the first node (default 9092); node i takes port + 2i, its controller the next.
   * Only start uses it: stop and status read the dir. With none of port, brokers and nodes, start
   * starts the nodes the dir recorded (a restart), or one node on 9092 in a new dir.
   */
  port?: number;
  /** How many nodes (default: nodes.length, else 1). Only start uses it. */
  brokers?: number;
  /** Per-node address, ports and launcher, in node order. Only start uses it. */
  nodes?: BrokerNodeOptions[];
  onProgress?: Progress;
  env?: NodeJS.ProcessEnv;
}

export interface NodeStatus {
  id: number;
  running: boolean;
  pid: number | null;
  /** host:port of its client listener */
  address: string;
  controllerPort: number;
  dir: string;
  logFile: string;
}

export interface BrokerStatus {
  /** every node runs and answers */
  running: boolean;
  /** the pid of the first node (the only one, by default) */
  pid: number | null;
  /** host:port,… clients connect to (bootstrap servers): every node's */
  address: string;
  dir: string;
  /** the first node's log */
  logFile: string;
  nodes: NodeStatus[];
  /** Set when KAFKA_BROKERS names a cluster: the local runner is not used. */
  external?: string;
}

export interface StartResult extends BrokerStatus {
  /** every node was running: nothing was launched */
  alreadyRunning: boolean;
  /** Time from launching the first JVM to every node answering (0 when already running). */
  readyMs: number;
}

const stateDir = (opts: BrokerOptions): string => resolve(opts.dir ?? (opts.env ?? process.env).SECKILL_KAFKA_DIR ?? '.seckill/kafka');
const nodesFile = (dir: string) => join(dir, 'nodes.json');

/** What nodes.json holds: each node with its dir relative to the state dir, so the state dir may move. */
type RecordedNode = Omit<NodeSpec, 'dir'> & { dir: string };

const wantedNodes = (opts: BrokerOptions, dir: string): NodeSpec[] => {
  const count = opts.brokers ?? opts.nodes?.length ?? 1;
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_BROKERS) throw new BrokerError(`brokers must be 1 to ${MAX_BROKERS}, got ${count}`);
  if (opts.nodes && opts.nodes.length !== count) throw new BrokerError(`${opts.nodes.length} node options given for ${count} brokers`);
  const base = opts.port ?? DEFAULT_PORT;
  return Array.from({ length: count }, (_, i) => {
    const given = opts.nodes?.[i] ?? {};
    const port = given.port ?? base + 2 * i;
    return {
      id: i + 1,
      host: given.host ?? HOST,
      port,
      controllerPort: given.controllerPort ?? port + 1,
      launcher: given.launcher ?? [],
      dir: count === 1 ? dir : join(dir, `node-${i + 1}`),
    };
  });
};

/** The nodes a start recorded in the dir; a dir of a single broker from before nodes.json is read from its config. */
const recordedNodes = async (dir: string): Promise<NodeSpec[]> => {
  const text = await readFile(nodesFile(dir), 'utf8').catch(() => null);
  if (text !== null) return (JSON.parse(text) as RecordedNode[]).map((n) => ({ ...n, dir: resolve(dir, n.dir) }));
  const port = (await portFromConfig(nodeFiles({ dir }).config)) ?? DEFAULT_PORT;
  return [{ id: 1, host: HOST, port, controllerPort: port + 1, launcher: [], dir }];
};

const recordNodes = (dir: string, nodes: NodeSpec[]) =>
  writeFile(
    nodesFile(dir),
    `${JSON.stringify(
      nodes.map((n) => ({ ...n, dir: n.dir === dir ? '.' : n.dir.slice(dir.length + 1) })),
      null,
      2,
    )}\n`,
  );

const external = (env: NodeJS.ProcessEnv): string | undefined => env.KAFKA_BROKERS || undefined;
const addressOf = (node: NodeSpec) => `${node.host}:${node.port}`;

const nodeStatus = async (node: NodeSpec): Promise<NodeStatus> => {
  const pid = await livePid(node);
  const running = pid !== null && (await nodeAnswers(node));
  return { id: node.id, running, pid, address: addressOf(node), controllerPort: node.controllerPort, dir: node.dir, logFile: nodeFiles(node).logFile };
};

const clusterStatus = async (dir: string, nodes: NodeSpec[]): Promise<BrokerStatus> => {
  const each = await Promise.all(nodes.map(nodeStatus));
  return {
    running: each.every((n) => n.running),
    pid: each[0].pid,
    address: nodes.map(addressOf).join(','),
    dir,
    logFile: each[0].logFile,
    nodes: each,
  };
};

export const brokerStatus = async (opts: BrokerOptions = {}): Promise<BrokerStatus> => {
  const dir = stateDir(opts);
  const given = external(opts.env ?? process.env);
  if (given) {
    // Probe the first of the given brokers, so status still says whether the cluster answers.
    const [host = HOST, port = String(DEFAULT_PORT)] = given.split(',')[0].trim().split(':');
    return {
      running: await brokerAnswers(host, Number(port)),
      pid: null,
      address: given,
      dir,
      logFile: nodeFiles({ dir }).logFile,
      nodes: [],
      external: given,
    };
  }
  return clusterStatus(dir, await recordedNodes(dir));
};

/** Refuses a start that would run a cluster of another shape or place than the one this dir holds and runs. */
const checkAgainstRecorded = async (dir: string, wanted: NodeSpec[]): Promise<void> => {
  const recorded = existsSync(nodesFile(dir)) || existsSync(nodeFiles({ dir }).config) ? await recordedNodes(dir) : [];
  const running = (await Promise.all(recorded.map(async (n) => ((await livePid(n)) !== null ? n : null)))).filter((n) => n !== null);
  if (running.length > 0) {
    const same = recorded.length === wanted.length && wanted.every((w, i) => addressOf(w) === addressOf(recorded[i]) && w.dir === recorded[i].dir);
    if (!same) {
      throw new BrokerError(
        `the Kafka of ${dir} is already running as ${recorded.length} node(s) on ${recorded.map(addressOf).join(',')}; stop it first to start ${wanted.length} on ${wanted.map(addressOf).join(',')}`,
      );
    }
  }
  const formatted = await Promise.all(recorded.map(formattedClusterId));
  if (recorded.length !== wanted.length && formatted.some((id) => id !== null)) {
    throw new BrokerError(
      `${dir} holds the data of a ${recorded.length}-node Kafka; to start ${wanted.length} node(s), stop it and remove the dir, or use another --dir`,
    );
  }
};

/**
 * Starts every node that is not running, detached (own process group, they
 * survive this process), and waits until all answer metadata requests (a
 * node of a quorum answers only once a majority of controllers is up).
 * Idempotent: live nodes of the same dir are left alone, so a start after a
 * node died starts that node alone.
 */
export const startBroker = async (opts: BrokerOptions = {}): Promise<StartResult> => {
  const env = opts.env ?? process.env;
  const onProgress = opts.onProgress ?? (() => {});
  const dir = stateDir(opts);
  const given = external(env);
  if (given) {
    onProgress(`KAFKA_BROKERS is set: using the cluster at ${given}, starting nothing`);
    return { ...(await brokerStatus(opts)), alreadyRunning: true, readyMs: 0 };
  }

  const asRecorded = opts.port === undefined && opts.brokers === undefined && opts.nodes === undefined && existsSync(nodesFile(dir));
  const nodes = asRecorded ? await recordedNodes(dir) : wantedNodes(opts, dir);
  await checkAgainstRecorded(dir, nodes);
  const pids = await Promise.all(nodes.map(livePid));
  const toLaunch = nodes.filter((_, i) => pids[i] === null);
  for (const node of toLaunch) {
    if (await nodeAnswers(node)) {
      throw new BrokerError(
        `something else already answers as a Kafka broker on ${addressOf(node)}; set KAFKA_BROKERS=${addressOf(node)} to use it, or pick another --port`,
      );
    }
  }

  let launched: { node: NodeSpec; pid: number; logFrom: { log: number; out: number } }[] = [];
  let firstLaunch = 0;
  if (toLaunch.length > 0) {
    const jars = await ensureKafkaJars(onProgress, env);
    const java = javaArgs(jars, dir);
    // Every node of a cluster is formatted with one id: a node formatted before keeps (and lends) its own.
    const known = (await Promise.all(nodes.map(formattedClusterId))).find((id) => id !== null);
    const clusterId = known ?? (await newClusterId(java));
    await recordNodes(dir, nodes);
    firstLaunch = Date.now();
    launched = await Promise.all(
      toLaunch.map(async (node) => {
        // kafka.logs.dir is what log4j2.xml writes server.log under: the node's own dir.
        const { pid, logFrom } = await launchNode(javaArgs(jars, node.dir), node, nodes, clusterId, onProgress);
        return { node, pid, logFrom };
      }),
    );
  }
  // Nodes already running may be starting still (another start in flight): wait for them too, rather than start a second JVM.
  await Promise.all(
    nodes.map((node, i) => {
      const ours = launched.find((l) => l.node.id === node.id);
      return waitUntilAnswers(node, ours?.pid ?? pids[i]!, onProgress, ours?.logFrom);
    }),
  );
  const readyMs = launched.length > 0 ? Date.now() - firstLaunch : 0;
  onProgress(
    launched.length > 0
      ? `${nodes.length === 1 ? 'answering' : `all ${nodes.length} nodes answering`} after ${(readyMs / 1000).toFixed(1)} s (pid ${launched.map((l) => l.pid).join(', ')})`
      : `already running: pid ${pids.join(', ')} on ${nodes.map(addressOf).join(',')}`,
  );
  return { ...(await clusterStatus(dir, nodes)), alreadyRunning: launched.length === 0, readyMs };
};

export interface StopResult {
  wasRunning: boolean;
  /** the first node's pid, if it ran */
  pid: number | null;
  /** pids stopped, one per node that ran */
  pids: number[];
  external?: string;
}

/** Stops every node of the dir at once: SIGTERM (a clean shutdown), SIGKILL after 30 s; stopping a stopped cluster is fine. */
export const stopBroker = async (opts: BrokerOptions = {}): Promise<StopResult> => {
  const onProgress = opts.onProgress ?? (() => {});
  const given = external(opts.env ?? process.env);
  if (given) {
    onProgress(`KAFKA_BROKERS is set: the cluster at ${given} is not ours to stop`);
    return { wasRunning: false, pid: null, pids: [], external: given };
  }
  const dir = stateDir(opts);
  const stopped = await Promise.all((await recordedNodes(dir)).map((node) => stopNode(node, onProgress)));
  const pids = stopped.filter((pid) => pid !== null);
  onProgress(pids.length > 0 ? 'stopped' : `not running (${dir})`);
  return { wasRunning: pids.length > 0, pid: stopped[0], pids };
};
