import type { Command } from 'commander';
import { intOption } from '../config.js';
import { DEFAULT_MASTERS, DEFAULT_PORT, localClusterStatus, startLocalCluster, stopLocalCluster, type LocalClusterStatus } from '../redis/local-cluster.js';
import { runAction } from './exit.js';

interface RedisClusterFlags {
  dir?: string;
  masters?: number;
  replicas?: number;
  port?: number;
  clean?: boolean;
  json?: boolean;
}

// Progress goes to stderr so that stdout carries only the result (one JSON object with --json).
const progress = (line: string) => process.stderr.write(`${line}\n`);

const describe = (status: LocalClusterStatus): string => {
  if (status.url === null) return `no cluster in ${status.dir}`;
  const state = status.clusterState === null ? 'no node answers' : `cluster_state ${status.clusterState}, ${status.slotsCovered}/16384 slots served`;
  const nodes = status.nodes.map(
    (node) =>
      `  ${node.port}  ${(node.role ?? '-').padEnd(7)}  ${node.pid === null ? 'no process' : `pid ${node.pid}`}  ${node.answers ? 'answers' : 'does not answer'}  ${node.logFile}`,
  );
  return [`${status.url}: ${state} (${status.dir})`, ...nodes].join('\n');
};

const print = (flags: RedisClusterFlags, result: object, line: string) => process.stdout.write(`${flags.json ? JSON.stringify(result) : line}\n`);

const start = async (flags: RedisClusterFlags): Promise<void> => {
  const result = await startLocalCluster({ dir: flags.dir, masters: flags.masters, replicas: flags.replicas, port: flags.port, onProgress: progress });
  print(flags, result, `${result.alreadyRunning ? 'already running' : 'started'}; REDIS_URL=${result.url}\n${describe(result)}`);
};

const stop = async (flags: RedisClusterFlags): Promise<void> => {
  const result = await stopLocalCluster({ dir: flags.dir, clean: flags.clean, onProgress: progress });
  const what = result.wasRunning ? `stopped ${result.stopped.length} node(s)` : 'was not running';
  print(flags, result, `${what}${result.removed ? `; removed ${result.dir}` : ''}`);
};

const status = async (flags: RedisClusterFlags): Promise<void> => {
  const result = await localClusterStatus({ dir: flags.dir });
  print(flags, result, describe(result));
};

const dirOption = '--dir <path>';
const dirHelp = 'state dir, one subdir per node (env SECKILL_REDIS_CLUSTER_DIR, default ./.seckill/redis-cluster)';

export const registerRedisCluster = (program: Command): void => {
  const cluster = program
    .command('redis-cluster')
    .description('Run a local Redis Cluster (redis-server nodes on 127.0.0.1, append-only, no Docker).')
    .addHelpText(
      'after',
      `
Examples:
  $ seckill redis-cluster start                  # 3 masters on 127.0.0.1:7000-7002
  $ seckill redis-cluster start --replicas 1     # 3 masters and a replica each, 7000-7005
  $ REDIS_URL=redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 seckill serve
  $ seckill redis-cluster status --json
  $ seckill redis-cluster stop --clean           # and delete its data

Needs redis-server and redis-cli 7 on PATH. A stopped cluster starts again
with its data (append-only files) and its shape: --masters, --replicas and
--port only shape a new one.`,
    );

  cluster
    .command('start')
    .description('Start the nodes, create the cluster the first time, wait until it is ok on every node (30 s at most); already running is fine.')
    .option('--masters <n>', `masters, each serving a share of the 16384 slots (default ${DEFAULT_MASTERS})`, intOption('--masters', 1, 100))
    .option('--replicas <n>', 'replicas per master, promoted when their master fails (default 0)', intOption('--replicas', 0, 5))
    .option('--port <n>', `port of the first node; the others take the next ones (default ${DEFAULT_PORT})`, intOption('--port', 1, 55_000))
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .addHelpText('after', '\nExit code 0 when the cluster is ok; 2 when it cannot be started or is not ok in time (the tail of a node log is shown).')
    .action(runAction(start));

  cluster
    .command('stop')
    .description('Stop every node of the state dir (SIGTERM, SIGKILL after 15 s) and wait for them to exit; not running is fine.')
    .option('--clean', 'then delete the state dir: data, config and logs')
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .action(runAction(stop));

  cluster
    .command('status')
    .description("List the nodes of the state dir, their roles, whether each answers, and the cluster's state; exits 0 either way.")
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .action(runAction(status));
};
