/**
 * The local Kafka broker: one KRaft node (broker and controller in one JVM)
 * run from Maven Central jars, no Docker. The only module that knows how it is
 * fetched, formatted, started and stopped. With KAFKA_BROKERS set, a cluster
 * is given and nothing here starts or stops anything.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logSince, recordedPid, sizeOf, stopUntilGone } from '../local-process.js';

/** The kafka_2.13 version the pom fetches. */
export const KAFKA_VERSION = '4.4.0';
export const DEFAULT_PORT = 9092;
const HOST = '127.0.0.1';
const START_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 30_000;

export class BrokerError extends Error {
  readonly code = 'KAFKA_BROKER';
}

// Both src/queue and dist/queue sit two levels below the package root, so one
// URL finds the pom and the log config from either.
const POM = fileURLToPath(new URL('../../src/queue/broker/pom.xml', import.meta.url));
const LOG4J_CONFIG = fileURLToPath(new URL('../../src/queue/broker/log4j2.xml', import.meta.url));

export type Progress = (line: string) => void;

export interface BrokerOptions {
  /** State dir (config, data, logs, pid); default $SECKILL_KAFKA_DIR or ./.seckill/kafka. */
  dir?: string;
  /** Client port; the controller listens on port + 1. Only start uses it: stop and status read it from the dir. */
  port?: number;
  onProgress?: Progress;
  env?: NodeJS.ProcessEnv;
}

export interface BrokerStatus {
  running: boolean;
  pid: number | null;
  /** host:port clients connect to (bootstrap servers). */
  address: string;
  dir: string;
  logFile: string;
  /** Set when KAFKA_BROKERS names a cluster: the local runner is not used. */
  external?: string;
}

export interface StartResult extends BrokerStatus {
  alreadyRunning: boolean;
  /** Time from launching the JVM to the first metadata answer (0 when already running). */
  readyMs: number;
}

const paths = (opts: BrokerOptions) => {
  const env = opts.env ?? process.env;
  const dir = resolve(opts.dir ?? env.SECKILL_KAFKA_DIR ?? '.seckill/kafka');
  return {
    dir,
    config: join(dir, 'server.properties'),
    data: join(dir, 'data'),
    pidFile: join(dir, 'kafka.pid'),
    logFile: join(dir, 'server.log'),
    // The JVM's own stdout/stderr: where a crash before log4j starts ends up.
    outFile: join(dir, 'kafka.out'),
  };
};

type Paths = ReturnType<typeof paths>;

/** Runs a command to completion; its output is kept for the error message, not shown. */
const run = (cmd: string, args: string[]): Promise<string> =>
  new Promise((done, fail) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      fail(
        new BrokerError(error.code === 'ENOENT' ? `${cmd} not found on PATH (the local Kafka broker needs Java 17+ and Maven)` : `${cmd}: ${error.message}`),
      ),
    );
    child.once('close', (code) => (code === 0 ? done(out) : fail(new BrokerError(`${cmd} ${args.join(' ')} exited ${code}:\n${out.trim()}`))));
  });

/**
 * Fetches the broker's jars once into $SECKILL_CACHE (default
 * ~/.cache/seckill/kafka-4.4.0) and returns their dir. Maven writes into a
 * private temp dir that is renamed into place only when complete, so an
 * interrupted fetch is retried and two concurrent first runs do not mix files.
 */
export const ensureKafkaJars = async (onProgress: Progress = () => {}, env = process.env): Promise<string> => {
  const cache = resolve(env.SECKILL_CACHE ?? join(homedir(), '.cache', 'seckill', `kafka-${KAFKA_VERSION}`));
  const jars = join(cache, 'jars');
  if (existsSync(jars)) return jars;
  const partial = join(cache, `jars.partial-${randomBytes(4).toString('hex')}`);
  await mkdir(cache, { recursive: true });
  onProgress(`fetching Kafka ${KAFKA_VERSION} jars from Maven Central into ${jars} (once)`);
  const started = Date.now();
  try {
    await run('mvn', ['-B', '-q', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${partial}`, '-f', POM]);
    await rename(partial, jars);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    // Another process finished first: its jars are as good as ours.
    if (existsSync(jars)) return jars;
    throw error;
  }
  const count = (await readdir(jars)).length;
  onProgress(`fetched ${count} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return jars;
};

const serverProperties = (port: number, data: string): string =>
  [
    '# Written by seckill kafka start on every start; edits are overwritten.',
    'process.roles=broker,controller',
    'node.id=1',
    // A static one-voter quorum: the format needs no --standalone and the
    // ports can change between runs without reformatting (a dynamic quorum
    // records the controller endpoint in the log at format time).
    `controller.quorum.voters=1@${HOST}:${port + 1}`,
    `listeners=PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${port + 1}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${data}`,
    'num.partitions=6',
    'auto.create.topics.enable=true',
    // One node: internal topics cannot have more replicas than that.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    // Nobody else will join the group; do not make the first consumer wait 3 s.
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');

const portFromConfig = async (config: string): Promise<number> => {
  const text = await readFile(config, 'utf8').catch(() => '');
  const match = /^listeners=PLAINTEXT:\/\/[^:]+:(\d+)/m.exec(text);
  return match ? Number(match[1]) : DEFAULT_PORT;
};

/** The recorded pid, if that process is alive and still the broker of this dir (its command line names the dir's config). */
const livePid = (p: Paths): Promise<number | null> => recordedPid(p.pidFile, p.config);

/**
 * Asks the broker for its metadata (Metadata v4, no topics) over a plain
 * socket and says whether it lists a live broker: the listener only answers
 * once the node has started, and the broker list is empty until the node is
 * registered and unfenced. Kept byte-level so kafkajs stays in src/queue/kafka.ts.
 */
const brokerAnswers = (port: number, host = HOST, timeoutMs = 1_000): Promise<boolean> =>
  new Promise((done) => {
    const clientId = Buffer.from('seckill-probe');
    const request = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length + 4 + 1);
    let at = request.writeInt32BE(request.length - 4, 0);
    at = request.writeInt16BE(3, at); // api key: Metadata
    at = request.writeInt16BE(4, at); // version 4, the oldest Kafka 4 still serves
    at = request.writeInt32BE(1, at); // correlation id
    at = request.writeInt16BE(clientId.length, at);
    at += clientId.copy(request, at);
    at = request.writeInt32BE(0, at); // topics: none (an empty array, not null = all)
    request.writeInt8(0, at); // allow_auto_topic_creation: false

    const socket = connect({ port, host });
    let reply = Buffer.alloc(0);
    const finish = (answered: boolean) => {
      socket.destroy();
      done(answered);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      // size, correlation id, throttle_time_ms, then the broker array's length.
      if (reply.length >= 16) finish(reply.readInt32BE(4) === 1 && reply.readInt32BE(12) > 0);
    });
  });

/**
 * The last lines of a log from a byte offset (this run's part) that say what
 * went wrong: errors, warnings and their causes without the stack frames; the
 * plain tail when there are none.
 */
const tail = (file: string, fromByte = 0, lines = 20): Promise<string> =>
  logSince(file, fromByte, lines, (line) => / (ERROR|WARN|FATAL) |^Caused by|^\S+(Exception|Error)\b/.test(line));

const external = (env: NodeJS.ProcessEnv): string | undefined => env.KAFKA_BROKERS || undefined;

export const brokerStatus = async (opts: BrokerOptions = {}): Promise<BrokerStatus> => {
  const p = paths(opts);
  const given = external(opts.env ?? process.env);
  if (given) {
    // Probe the first of the given brokers, so status still says whether the cluster answers.
    const [host = HOST, port = String(DEFAULT_PORT)] = given.split(',')[0].trim().split(':');
    return { running: await brokerAnswers(Number(port), host), pid: null, address: given, dir: p.dir, logFile: p.logFile, external: given };
  }
  const port = await portFromConfig(p.config);
  const pid = await livePid(p);
  const running = pid !== null && (await brokerAnswers(port));
  return { running, pid, address: `${HOST}:${port}`, dir: p.dir, logFile: p.logFile };
};

const formatOnce = async (java: string[], p: Paths, onProgress: Progress): Promise<void> => {
  if (existsSync(join(p.data, 'meta.properties'))) return;
  const clusterId = (await run('java', [...java, 'kafka.tools.StorageTool', 'random-uuid'])).trim();
  onProgress(`formatting ${p.data} (cluster id ${clusterId})`);
  await run('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', p.config]);
};

/**
 * Starts the broker detached (own process group, survives this process) and
 * waits until it answers metadata requests. Idempotent: a live broker from
 * the same dir is reported as already running.
 */
export const startBroker = async (opts: BrokerOptions = {}): Promise<StartResult> => {
  const env = opts.env ?? process.env;
  const onProgress = opts.onProgress ?? (() => {});
  const p = paths(opts);
  const port = opts.port ?? DEFAULT_PORT;
  const given = external(env);
  if (given) {
    onProgress(`KAFKA_BROKERS is set: using the cluster at ${given}, starting nothing`);
    return { ...(await brokerStatus(opts)), alreadyRunning: true, readyMs: 0 };
  }

  const existing = await livePid(p);
  if (existing !== null) {
    const runningPort = await portFromConfig(p.config);
    if (runningPort !== port) {
      throw new BrokerError(`the broker in ${p.dir} is already running on port ${runningPort} (pid ${existing}); stop it first to use port ${port}`);
    }
    // Alive but perhaps still starting (another start in flight): wait for it rather than start a second JVM.
    await waitUntilAnswers(port, existing, p, onProgress);
    onProgress(`already running: pid ${existing} on ${HOST}:${port}`);
    return { ...(await brokerStatus(opts)), alreadyRunning: true, readyMs: 0 };
  }
  if (await brokerAnswers(port)) {
    throw new BrokerError(
      `something else already answers as a Kafka broker on ${HOST}:${port}; set KAFKA_BROKERS=${HOST}:${port} to use it, or pick another --port`,
    );
  }

  const jars = await ensureKafkaJars(onProgress, env);
  await mkdir(p.data, { recursive: true });
  await writeFile(p.config, serverProperties(port, p.data));
  // kafka.logs.dir is what log4j2.xml writes server.log under.
  const java = [`-Dkafka.logs.dir=${p.dir}`, `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`, '-cp', join(jars, '*')];
  await formatOnce(java, p, onProgress);

  onProgress(`starting Kafka ${KAFKA_VERSION} on ${HOST}:${port} (controller ${port + 1}), log ${p.logFile}`);
  const out = openSync(p.outFile, 'a');
  // Both logs are appended to across runs; a failure report shows only this run's part.
  const logFrom = { log: await sizeOf(p.logFile), out: await sizeOf(p.outFile) };
  const launched = Date.now();
  const child = spawn('java', ['-Xmx512m', '-Xms256m', ...java, 'kafka.Kafka', p.config], { cwd: p.dir, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  const pid = await new Promise<number>((done, fail) => {
    child.once('spawn', () => done(child.pid!));
    child.once('error', (error) => fail(new BrokerError(`java: ${error.message}`)));
  });
  child.unref();
  await writeFile(p.pidFile, `${pid}\n`);

  await waitUntilAnswers(port, pid, p, onProgress, logFrom);
  const readyMs = Date.now() - launched;
  onProgress(`answering after ${(readyMs / 1000).toFixed(1)} s (pid ${pid})`);
  return { ...(await brokerStatus(opts)), alreadyRunning: false, readyMs };
};

const waitUntilAnswers = async (port: number, pid: number, p: Paths, onProgress: Progress, logFrom = { log: 0, out: 0 }): Promise<void> => {
  const deadline = Date.now() + START_DEADLINE_MS;
  let said = false;
  while (!(await brokerAnswers(port))) {
    if (!said) onProgress(`waiting for ${HOST}:${port} to answer a metadata request (up to ${START_DEADLINE_MS / 1000} s)`);
    said = true;
    if ((await livePid(p)) !== pid) {
      await rm(p.pidFile, { force: true });
      const output = await tail(p.outFile, logFrom.out, 10);
      throw new BrokerError(
        `the broker (pid ${pid}) exited while starting. Last lines of ${p.logFile}:\n${await tail(p.logFile, logFrom.log)}${output ? `\n${p.outFile}:\n${output}` : ''}`,
      );
    }
    if (Date.now() > deadline) {
      throw new BrokerError(
        `the broker (pid ${pid}) did not answer on ${HOST}:${port} within ${START_DEADLINE_MS / 1000} s; it is left running, see ${p.logFile}:\n${await tail(p.logFile, logFrom.log)}`,
      );
    }
    await sleep(250);
  }
};

/** SIGTERM (a clean shutdown), SIGKILL after 30 s; stopping a stopped broker is fine. */
export const stopBroker = async (opts: BrokerOptions = {}): Promise<{ wasRunning: boolean; pid: number | null; external?: string }> => {
  const onProgress = opts.onProgress ?? (() => {});
  const given = external(opts.env ?? process.env);
  if (given) {
    onProgress(`KAFKA_BROKERS is set: the cluster at ${given} is not ours to stop`);
    return { wasRunning: false, pid: null, external: given };
  }
  const p = paths(opts);
  const pid = await livePid(p);
  if (pid === null) {
    await rm(p.pidFile, { force: true });
    onProgress(`not running (${p.dir})`);
    return { wasRunning: false, pid: null };
  }
  onProgress(`stopping pid ${pid}`);
  await stopUntilGone(pid, {
    stillRunning: async () => (await livePid(p)) === pid,
    deadlineMs: STOP_DEADLINE_MS,
    onKill: () => onProgress(`pid ${pid} still alive after ${STOP_DEADLINE_MS / 1000} s: SIGKILL`),
  });
  await rm(p.pidFile, { force: true });
  onProgress('stopped');
  return { wasRunning: true, pid };
};
