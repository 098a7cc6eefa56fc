/**
 * A sale at size in the lab, each part on a host of its own as in a real
 * deployment: 3 Redis masters with a replica each, 3 Kafka brokers (RF 3,
 * min.insync.replicas 2), a MySQL, 2 gateways, a pipeline host (relay and 2
 * consumers), and a host for the buyers. Every process runs in its host; this
 * process only builds, starts, strikes and tears down.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSeckillProcess, type SeckillProcess } from '../../bench/servers/processes.js';
import { startBroker, stopBroker } from '../../queue/broker.js';
import { LocalMysql } from '../../store/local-mysql.js';
import { createLab, type Lab, type LabHost } from '../network.js';
import { startLabRedisCluster, type LabRedisCluster } from '../redis-cluster.js';

export const SALE_HOSTS = {
  redis: ['redis1', 'redis2', 'redis3', 'redis4', 'redis5', 'redis6'],
  kafka: ['kafka1', 'kafka2', 'kafka3'],
  mysql: 'mysql',
  gateways: ['gw1', 'gw2'],
  pipeline: 'pipeline',
  buyers: 'buyers',
} as const;

const GATEWAY_PORT = 8080;
const MYSQL_PORT = 3306;
const KAFKA_PORT = 9092;

export interface LabSaleOptions {
  /** where the stores keep their state; short, it holds unix sockets */
  dir: string;
  /** serve, relay and consume --replica-acks */
  replicaAcks: number;
  onProgress?: (line: string) => void;
}

export interface LabSale {
  lab: Lab;
  replicaAcks: number;
  redis: LabRedisCluster;
  mysql: LocalMysql;
  kafkaDir: string;
  /** the addresses every process is given */
  env: { REDIS_URL: string; MYSQL_URL: string; KAFKA_BROKERS: string };
  gatewayUrls: string[];
  gateways: SeckillProcess[];
  /** kills gateway `index` with `signal` (SIGKILL: a crash) and starts it again, as a deploy or a supervisor would */
  restartGateway(index: number, signal: NodeJS.Signals): Promise<void>;
  pipeline: SeckillProcess[];
  /** runs a seckill command to its end in a host of the lab, resolves with its stdout */
  seckill(host: string, args: string[]): Promise<string>;
  /** stops every process and removes the lab (also after a failed start: call it in finally) */
  destroy(): Promise<void>;
}

/** A built script of this folder (also under vitest): it runs inside a lab host, with node alone. */
export const labScript = (name: string) => fileURLToPath(new URL(`../../../dist/lab/sale/${name}`, import.meta.url));

const BIN = new URL('../../../bin/seckill', import.meta.url).pathname;

/** Builds the lab and starts the sale's stores and processes; on a failure half-way, removes what it made before it throws. */
export const startLabSale = async (opts: LabSaleOptions): Promise<LabSale> => {
  const say = opts.onProgress ?? (() => {});
  const hosts = [...SALE_HOSTS.redis, ...SALE_HOSTS.kafka, SALE_HOSTS.mysql, ...SALE_HOSTS.gateways, SALE_HOSTS.pipeline, SALE_HOSTS.buyers];
  const lab = await createLab({ name: 'sale', hosts });
  const kafkaDir = join(opts.dir, 'kafka');
  const processes: SeckillProcess[] = [];
  let mysql: LocalMysql | undefined;
  const destroy = async () => {
    await Promise.allSettled(processes.map((p) => p.stop()));
    await stopBroker({ dir: kafkaDir, env: { ...process.env, KAFKA_BROKERS: '' } }).catch(() => {});
    await mysql?.stop().catch(() => {});
    await lab.destroy();
    await rm(opts.dir, { recursive: true, force: true });
  };
  try {
    await mkdir(opts.dir, { recursive: true });
    say('starting Redis Cluster (3 masters, 3 replicas), Kafka (3 brokers) and MySQL, each on hosts of their own');
    const mysqlHost = lab.host(SALE_HOSTS.mysql);
    mysql = new LocalMysql({ dir: join(opts.dir, 'mysql'), port: MYSQL_PORT, host: mysqlHost.address, launcher: mysqlHost.argv([]) });
    const kafkaHosts = SALE_HOSTS.kafka.map((h) => lab.host(h));
    const [redis] = await Promise.all([
      startLabRedisCluster(lab, { hosts: [...SALE_HOSTS.redis], dir: join(opts.dir, 'redis'), masters: 3, replicas: 1 }),
      // The lab's own brokers, whatever KAFKA_BROKERS names outside it.
      startBroker({
        dir: kafkaDir,
        env: { ...process.env, KAFKA_BROKERS: '' },
        nodes: kafkaHosts.map((h) => ({ host: h.address, port: KAFKA_PORT, launcher: h.argv([]) })),
      }),
      mysql.start(),
    ]);
    const env = {
      REDIS_URL: redis.url,
      MYSQL_URL: mysql.url('seckill'),
      KAFKA_BROKERS: kafkaHosts.map((h) => `${h.address}:${KAFKA_PORT}`).join(','),
    };
    const seckill = async (host: string, args: string[]) =>
      (await lab.host(host).exec([process.execPath, BIN, ...args], { env: { ...process.env, ...env }, timeoutMs: 120_000 })).stdout;
    const start = async (host: LabHost, command: string, args: string[]) => {
      const started = await startSeckillProcess(command, args, env, { launcher: host.argv([]) });
      processes.push(started);
      return started;
    };

    const acks = ['--replica-acks', String(opts.replicaAcks)];
    say(`starting 2 gateways, a relay and 2 consumers (--replica-acks ${opts.replicaAcks})`);
    const gatewayHosts = SALE_HOSTS.gateways.map((h) => lab.host(h));
    const serve = (h: LabHost) => start(h, 'serve', ['--host', h.address, '--port', String(GATEWAY_PORT), ...acks]);
    const gateways = await Promise.all(gatewayHosts.map(serve));
    const pipelineHost = lab.host(SALE_HOSTS.pipeline);
    // The relay first: it makes the topics, which two processes making them at once on a fresh cluster race over.
    const relay = await start(pipelineHost, 'relay', acks);
    const consumers = await Promise.all([
      start(pipelineHost, 'consume', [...acks, '--session-timeout', '10000']),
      start(pipelineHost, 'consume', [...acks, '--session-timeout', '10000', '--no-sweeper']),
    ]);
    const pipeline = [relay, ...consumers];
    return {
      lab,
      replicaAcks: opts.replicaAcks,
      redis,
      mysql,
      kafkaDir,
      env,
      gatewayUrls: gatewayHosts.map((h) => `http://${h.address}:${GATEWAY_PORT}`),
      gateways,
      restartGateway: async (index, signal) => {
        await gateways[index].stop(signal);
        gateways[index] = await serve(gatewayHosts[index]);
      },
      pipeline,
      seckill,
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
};
