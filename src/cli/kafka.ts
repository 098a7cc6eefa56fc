import type { Command } from 'commander';
import { intOption } from '../config.js';
import { brokerStatus, DEFAULT_PORT, startBroker, stopBroker, type BrokerStatus } from '../queue/broker.js';
import { runAction } from './run.js';

interface KafkaFlags {
  dir?: string;
  port?: number;
  json?: boolean;
}

// Progress goes to stderr so that stdout carries only the result (one JSON object with --json).
const progress = (line: string) => process.stderr.write(`${line}\n`);

const describe = (status: BrokerStatus): string =>
  status.external
    ? `KAFKA_BROKERS=${status.external}: ${status.running ? 'answering' : 'not answering'}`
    : status.running
      ? `running: pid ${status.pid}, ${status.address}, log ${status.logFile}`
      : `not running (${status.dir})`;

const print = (flags: KafkaFlags, result: object, line: string) => process.stdout.write(`${flags.json ? JSON.stringify(result) : line}\n`);

const start = async (flags: KafkaFlags): Promise<void> => {
  const result = await startBroker({ dir: flags.dir, port: flags.port, onProgress: progress });
  const what = result.external ? `using KAFKA_BROKERS; nothing started` : result.alreadyRunning ? 'already running' : 'started';
  print(flags, result, `${what}; bootstrap servers ${result.address}`);
};

const stop = async (flags: KafkaFlags): Promise<void> => {
  const result = await stopBroker({ dir: flags.dir, onProgress: progress });
  print(
    flags,
    result,
    result.external ? `using KAFKA_BROKERS=${result.external}; nothing stopped` : result.wasRunning ? `stopped pid ${result.pid}` : 'was not running',
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
    .description(`Run a local single-node Kafka broker (KRaft, jars from Maven Central, no Docker).`)
    .addHelpText(
      'after',
      `
Examples:
  $ seckill kafka start                 # 127.0.0.1:9092, controller on 9093
  $ seckill kafka start --port 19092 --dir /tmp/kafka-test
  $ seckill kafka status --json
  $ seckill kafka stop

The first start fetches ~45 jars (~43 MB) with mvn into $SECKILL_CACHE
(default ~/.cache/seckill/kafka-4.4.0) and keeps them. Needs java 17+ and mvn.
With KAFKA_BROKERS set, start and stop do nothing: that cluster is used.`,
    );

  kafka
    .command('start')
    .description('Start the broker and wait until it answers (60 s at most); already running is fine.')
    .option('--port <n>', 'client port; the controller takes port + 1', intOption('--port', 1, 65_534), DEFAULT_PORT)
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .addHelpText(
      'after',
      '\nExit code 0 when the broker answers; 2 when it cannot be fetched, started, or does not answer in time (the tail of its log is shown).',
    )
    .action(runAction(start));

  kafka
    .command('stop')
    .description('Stop the broker of the state dir: SIGTERM, SIGKILL after 30 s; not running is fine.')
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .action(runAction(stop));

  kafka
    .command('status')
    .description('Say whether the broker of the state dir runs and answers (port read from its config); exits 0 either way.')
    .option(dirOption, dirHelp)
    .option('--json', 'print one JSON object on stdout, for machines')
    .action(runAction(status));
};
