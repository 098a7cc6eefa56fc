import type { Command } from 'commander';
import { ConfigError, intOption } from '../config.js';
import { brokerStatus, DEFAULT_PORT, MAX_BROKERS, startBroker, stopBroker, type BrokerNodeOptions, type BrokerStatus } from '../queue/broker.js';
import { runAction } from './exit.js';

interface KafkaFlags {
  dir?: string;
  port?: number;
  brokers?: number;
  hosts?: string;
  launcher?: string;
  json?: boolean;
}

// Progress goes to stderr so that stdout carries only the result (one JSON object with --json).
const progress = (line: string) => process.stderr.write(`${line}\n`);

const describe = (status: BrokerStatus): string => {
  if (status.external) return `KAFKA_BROKERS=${status.external}: ${status.running ? 'answering' : 'not answering'}`;
  if (status.nodes.length === 1) return status.running ? `running: pid ${status.pid}, ${status.address}, log ${status.logFile}` : `not running (${status.dir})`;
  const lines = status.nodes.map(
    (n) =>
      `  node ${n.id}: ${n.running ? `running, pid ${n.pid}` : n.pid !== null ? `pid ${n.pid}, not answering` : 'not running'}, ${n.address}, log ${n.logFile}`,
  );
  const up = status.nodes.filter((n) => n.running).length;
  return [`${up} of ${status.nodes.length} nodes running (${status.dir})`, ...lines].join('\n');
};

/**
 * Per-node options from --hosts (one address per node, or one for all) and
 * --launcher (an argv prefix, split on spaces, with {node} standing for the
 * node's number).
 */
const nodesOf = (flags: KafkaFlags, brokers: number): BrokerNodeOptions[] | undefined => {
  if (flags.hosts === undefined && flags.launcher === undefined) return undefined;
  const hosts = flags.hosts?.split(',').map((h) => h.trim());
  if (hosts && hosts.length !== 1 && hosts.length !== brokers) throw new ConfigError(`--hosts names ${hosts.length} addresses for ${brokers} brokers`);
  return Array.from({ length: brokers }, (_, i) => ({
    host: hosts?.[hosts.length === 1 ? 0 : i],
    launcher: flags.launcher
      ?.split(' ')
      .filter(Boolean)
      .map((arg) => arg.replaceAll('{node}', String(i + 1))),
  }));
};

const print = (flags: KafkaFlags, result: object, line: string) => process.stdout.write(`${flags.json ? JSON.stringify(result) : line}\n`);

const start = async (flags: KafkaFlags): Promise<void> => {
  // Without --port, --brokers, --hosts and --launcher, the nodes the dir recorded are started again (or one on 9092 in a new dir).
  const result = await startBroker({
    dir: flags.dir,
    port: flags.port,
    brokers: flags.brokers,
    nodes: nodesOf(flags, flags.brokers ?? 1),
    onProgress: progress,
  });
  const what = result.external ? `using KAFKA_BROKERS; nothing started` : result.alreadyRunning ? 'already running' : 'started';
  print(flags, result, `${what}; bootstrap servers ${result.address}`);
};

const stop = async (flags: KafkaFlags): Promise<void> => {
  const result = await stopBroker({ dir: flags.dir, onProgress: progress });
  print(
    flags,
    result,
    result.external
      ? `using KAFKA_BROKERS=${result.external}; nothing stopped`
      : result.wasRunning
        ? `stopped pid ${result.pids.join(', ')}`
        : 'was not running',
  );
};

const status = async (flags: KafkaFlags): Promise<void> => {
  const result = await brokerStatus({ dir: flags.dir });
  print(flags, result, describe(result));
};

const dirOption = '--dir <path>';
const dirHelp = 'state dir: config, data, pid and logs (env SECKILL_KAFKA_DIR, default ./.seckill/kafka)';

export const registerKafka = (program: Command): void => {
  const kafka = program
    .command('kafka')
    .description(`Run a local Kafka: one KRaft node, or a cluster of them (--brokers 3), from Maven Central jars, no Docker.`)
    .addHelpText(
      'after',
      `
Examples:
  $ seckill kafka start                 # 127.0.0.1:9092, controller on 9093
  $ seckill kafka start --port 19092 --dir /tmp/kafka-test
  $ seckill kafka start --brokers 3 --dir .seckill/kafka3
                                        # 9092, 9094, 9096 (controllers 9093, 9095, 9097)
  $ seckill kafka start --brokers 3 --port 9092 --dir .seckill/lab-kafka \\
      --hosts 10.213.0.5,10.213.0.6,10.213.0.7 --launcher 'ip netns exec lab-kafka-{node}'
  $ seckill kafka status --json
  $ seckill kafka stop                  # every node of the dir

The first start fetches ~45 jars (~43 MB) with mvn into $SECKILL_CACHE
(default ~/.cache/seckill/kafka-4.4.0) and keeps them. Needs java 17+ and mvn.
With KAFKA_BROKERS set, start and stop do nothing: that cluster is used.
With --brokers 3 every node is broker and controller (one 3-voter quorum),
with a sub-dir of the state dir each; topics the relay makes get replication
factor 3 and min.insync.replicas 2. A start when some nodes died starts those.`,
    );

  kafka
    .command('start')
    .description('Start the broker(s) and wait until every one answers (60 s at most); already running is fine.')
    .option(
      '--port <n>',
      `client port of node 1 (default ${DEFAULT_PORT}, or what the dir ran with); node i takes port + 2(i-1), each controller the next port`,
      intOption('--port', 1, 65_534),
    )
    .option('--brokers <n>', 'how many KRaft nodes, broker + controller each (default 1, or what the dir ran with)', intOption('--brokers', 1, MAX_BROKERS))
    .option('--hosts <list>', 'address each node listens on and advertises, a,b,c (or one for all; default 127.0.0.1)')
    .option('--launcher <argv>', "argv prefix each node's JVM starts through, {node} = its number (e.g. 'ip netns exec lab-kafka-{node}'); it must exec")
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .addHelpText(
      'after',
      '\nExit code 0 when the broker answers; 2 when it cannot be fetched, started, or does not answer in time (the tail of its log is shown).',
    )
    .action(runAction(start));

  kafka
    .command('stop')
    .description('Stop every node of the state dir: SIGTERM, SIGKILL after 30 s; not running is fine.')
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .action(runAction(stop));

  kafka
    .command('status')
    .description('Say whether each node of the state dir runs and answers (read from the dir); exits 0 either way.')
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .action(runAction(status));
};
