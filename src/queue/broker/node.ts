/**
 * The lifecycle of one KRaft node of the local cluster: its files, formatting
 * its data dir once, launching its JVM detached (through the node's launcher,
 * if any), waiting until it answers, stopping it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { logSince, recordedPid, sizeOf, stopUntilGone } from '../../local-process.js';
import { BrokerError, runToEnd, type Progress } from './jars.js';
import { brokerAnswers } from './probe.js';
import { serverProperties, type NodeSpec } from './properties.js';

export const START_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 30_000;

export const nodeFiles = (node: Pick<NodeSpec, 'dir'>) => ({
  config: join(node.dir, 'server.properties'),
  data: join(node.dir, 'data'),
  pidFile: join(node.dir, 'kafka.pid'),
  logFile: join(node.dir, 'server.log'),
  // The JVM's own stdout/stderr: where a crash before log4j starts ends up.
  outFile: join(node.dir, 'kafka.out'),
});

/** The recorded pid, if that process is alive and still the node of this dir (its command line names the dir's config). */
export const livePid = (node: Pick<NodeSpec, 'dir'>): Promise<number | null> => {
  const files = nodeFiles(node);
  return recordedPid(files.pidFile, files.config);
};

/** The probe as a script (the built one, also under vitest): run through a launcher, it asks from where the node lives. */
const PROBE_SCRIPT = fileURLToPath(new URL('../../../dist/queue/broker/probe-main.js', import.meta.url));

/**
 * Whether the node answers a metadata request, asked from where it runs: a
 * node started through a launcher (a lab host) is asked through the same
 * launcher, since its address may not be reachable from here.
 */
export const nodeAnswers = async (node: NodeSpec): Promise<boolean> => {
  if (node.launcher.length === 0) return brokerAnswers(node.host, node.port);
  const answer = await runToEnd(node.launcher[0], [...node.launcher.slice(1), process.execPath, PROBE_SCRIPT, node.host, String(node.port)]).catch(() => 'no');
  return answer.trim() === 'yes';
};

/** The cluster id a node's data dir was formatted with; null before its first format. */
export const formattedClusterId = async (node: NodeSpec): Promise<string | null> => {
  const meta = await readFile(join(nodeFiles(node).data, 'meta.properties'), 'utf8').catch(() => '');
  return /^cluster\.id=(\S+)/m.exec(meta)?.[1] ?? null;
};

/** A fresh cluster id, as kafka-storage random-uuid makes it. */
export const newClusterId = async (java: string[]): Promise<string> => (await runToEnd('java', [...java, 'kafka.tools.StorageTool', 'random-uuid'])).trim();

/** The last lines of this run's part of a log that say what went wrong (errors, warnings, causes); the plain tail when there are none. */
const tail = (file: string, fromByte = 0, lines = 20): Promise<string> =>
  logSince(file, fromByte, lines, (line) => / (ERROR|WARN|FATAL) |^Caused by|^\S+(Exception|Error)\b/.test(line));

export interface Launched {
  pid: number;
  launchedAt: number;
  /** where this run's part of the logs starts */
  logFrom: { log: number; out: number };
}

/**
 * Writes the node's config (every start: the addresses may have changed),
 * formats its data dir with `clusterId` if it never was, and starts its JVM
 * detached (own process group, survives this process) through its launcher.
 * The pid recorded is the spawned one: a launcher must exec the JVM (as
 * `ip netns exec` does) for stop and status to find it.
 */
export const launchNode = async (java: string[], node: NodeSpec, all: NodeSpec[], clusterId: string, onProgress: Progress): Promise<Launched> => {
  const files = nodeFiles(node);
  await mkdir(files.data, { recursive: true });
  await writeFile(files.config, serverProperties(node, all, files.data));
  if (!existsSync(join(files.data, 'meta.properties'))) {
    onProgress(`formatting ${files.data} (cluster id ${clusterId})`);
    await runToEnd('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', files.config]);
  }
  const via = node.launcher.length > 0 ? ` via ${node.launcher.join(' ')}` : '';
  onProgress(`starting node ${node.id} on ${node.host}:${node.port} (controller ${node.controllerPort})${via}, log ${files.logFile}`);
  const out = openSync(files.outFile, 'a');
  // Both logs are appended to across runs; a failure report shows only this run's part.
  const logFrom = { log: await sizeOf(files.logFile), out: await sizeOf(files.outFile) };
  const argv = [...node.launcher, 'java', '-Xmx512m', '-Xms256m', ...java, 'kafka.Kafka', files.config];
  const launchedAt = Date.now();
  const child = spawn(argv[0], argv.slice(1), { cwd: node.dir, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  const pid = await new Promise<number>((done, fail) => {
    child.once('spawn', () => done(child.pid!));
    child.once('error', (error) => fail(new BrokerError(`${argv[0]}: ${error.message}`)));
  });
  child.unref();
  await writeFile(files.pidFile, `${pid}\n`);
  return { pid, launchedAt, logFrom };
};

/** Waits until the node answers a metadata request; fails early (with its log's tail) when its process exits. */
export const waitUntilAnswers = async (node: NodeSpec, pid: number, onProgress: Progress, logFrom = { log: 0, out: 0 }): Promise<void> => {
  const files = nodeFiles(node);
  const deadline = Date.now() + START_DEADLINE_MS;
  let said = false;
  while (!(await nodeAnswers(node))) {
    if (!said) onProgress(`waiting for node ${node.id} at ${node.host}:${node.port} to answer a metadata request (up to ${START_DEADLINE_MS / 1000} s)`);
    said = true;
    if ((await livePid(node)) !== pid) {
      await rm(files.pidFile, { force: true });
      const output = await tail(files.outFile, logFrom.out, 10);
      throw new BrokerError(
        `node ${node.id} (pid ${pid}) exited while starting. Last lines of ${files.logFile}:\n${await tail(files.logFile, logFrom.log)}${output ? `\n${files.outFile}:\n${output}` : ''}`,
      );
    }
    if (Date.now() > deadline) {
      throw new BrokerError(
        `node ${node.id} (pid ${pid}) did not answer on ${node.host}:${node.port} within ${START_DEADLINE_MS / 1000} s; it is left running, see ${files.logFile}:\n${await tail(files.logFile, logFrom.log)}`,
      );
    }
    await sleep(250);
  }
};

/** SIGTERM (a clean shutdown), SIGKILL after 30 s; a node not running is fine. Resolves with the pid it stopped. */
export const stopNode = async (node: Pick<NodeSpec, 'dir' | 'id'>, onProgress: Progress): Promise<number | null> => {
  const pid = await livePid(node);
  if (pid === null) {
    await rm(nodeFiles(node).pidFile, { force: true });
    return null;
  }
  onProgress(`stopping node ${node.id}: pid ${pid}`);
  await stopUntilGone(pid, {
    stillRunning: async () => (await livePid(node)) === pid,
    deadlineMs: STOP_DEADLINE_MS,
    onKill: () => onProgress(`node ${node.id} (pid ${pid}) still alive after ${STOP_DEADLINE_MS / 1000} s: SIGKILL`),
  });
  await rm(nodeFiles(node).pidFile, { force: true });
  return pid;
};
