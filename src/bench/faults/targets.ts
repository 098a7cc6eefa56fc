/** What the faults break, and how each thing is brought back: the processes, brokers, Redis servers and workers bench may hit. */
import { brokerStatus, startBroker, stopBroker } from '../../queue/broker.js';
import type { OwnRedis } from '../servers/own-redis.js';

/** The processes bench runs per strategy, by the command that started them (reconcile: the watcher of --prometheus, which no fault hits). */
export type ProcessRole = 'serve' | 'relay' | 'consume' | 'reconcile';

/** What the faults break, and how each thing is brought back. */
export interface FaultTargets {
  /** SIGKILLs the running process of this role (kill -9: no cleanup) and resolves with its pid once it is gone */
  kill(role: ProcessRole): Promise<number>;
  /** starts the role again with the same command line (and, for serve, the same port); resolves with the new pid */
  start(role: ProcessRole): Promise<number>;
  pid(role: ProcessRole): number | null;
  /** the workers of the running `serve --workers` (checkFaultSetup made sure it runs with workers) */
  serveWorkers(): ServeWorkers;
  /** the local broker bench may stop; null when the brokers are someone else's */
  kafka: BrokerControl | null;
  /** bench's own redis-server; null when bench uses a Redis it was given */
  redis: OwnRedis | null;
  /** bench's own Redis Cluster (--redis-cluster); null otherwise */
  redisCluster: RedisClusterControl | null;
  mysqlUrl: string;
}

/** The workers of `serve --workers`, each restarted by serve's primary when it exits. */
export interface ServeWorkers {
  /** the live workers' pids (children of the primary), oldest first */
  pids(): Promise<number[]>;
  /** sends `signal` to one worker; resolves, once it has exited and the primary's replacement listens, with the replacement's pid */
  replace(pid: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<number>;
}

/** A Redis Cluster bench started itself, whose masters it may kill or pause. */
export interface RedisClusterControl {
  /** replicas per master: a master killed without one takes its slots down with it */
  replicas: number;
  /** SIGKILLs the master that holds the run's first SKU; resolves with its port once its replica has taken over */
  killMaster(): Promise<number>;
  /** starts a killed node again: it rejoins as a replica of the master promoted in its place */
  restart(port: number): Promise<void>;
  /** SIGSTOPs the master that holds the run's first SKU: it answers nothing, and believes itself master until it hears otherwise */
  pauseMaster(): Promise<PausedMaster>;
  /** resolves once every node agrees on who is master again, the replicas synced */
  untilAgreed(): Promise<void>;
}

/** A master bench paused (SIGSTOP). */
export interface PausedMaster {
  port: number;
  /** resolves, with the new master's port, once another node serves the SKU's slot */
  takenOver(): Promise<number>;
  /** SIGCONT (once; again is a no-op); resolves with how long it was paused, ms */
  resume(): Promise<number>;
}

/** A Kafka broker bench may stop and start: one run from a `seckill kafka` state dir on this machine. */
export interface BrokerControl {
  address: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const sameAddress = (a: string, b: string): boolean => {
  const norm = (s: string) => s.trim().replace(/^localhost:/, '127.0.0.1:');
  return norm(a) === norm(b);
};

/**
 * The broker bench may stop for the stop-kafka fault: the one `seckill kafka
 * start` (or bench itself) runs from the state dir ($SECKILL_KAFKA_DIR or
 * .seckill/kafka), when it is the one the run uses — started by bench, or
 * named alone in KAFKA_BROKERS. A cluster that is not run from that dir is
 * never touched.
 */
export const localBroker = async (kafkaBrokers: string, baseEnv: NodeJS.ProcessEnv = process.env): Promise<BrokerControl | null> => {
  // Without KAFKA_BROKERS the broker module looks at its state dir instead of the given cluster.
  const env = { ...baseEnv, KAFKA_BROKERS: '' };
  const status = await brokerStatus({ env });
  if (!status.running || !sameAddress(kafkaBrokers, status.address)) return null;
  const port = Number(status.address.split(':').pop());
  return {
    address: status.address,
    stop: async () => void (await stopBroker({ env })),
    start: async () => void (await startBroker({ env, port })),
  };
};
