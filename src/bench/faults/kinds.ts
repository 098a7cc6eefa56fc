import type { QueueKind } from '../../config.js';
import type { BrokerControl } from './targets.js';

/**
 * Faults a scenario injects during its load (`"faults": [{"at": "2s", "do":
 * "kill-consumer", "for": "2s"}]`), so a bench run proves the pipeline
 * survives them: every invariant is checked as usual once it drained.
 */
export const FAULT_KINDS = [
  'kill-consumer',
  'kill-relay',
  'kill-server',
  'stop-kafka',
  'kill-mysql-connections',
  'restart-redis',
  'kill-redis-master',
  'pause-redis-master',
  'restart-workers',
  'kill-worker',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults that need a set-up of their own (bench's own Redis Cluster with replicas, serve --workers): a chaos block draws them only when it names them. */
export const FAULT_KINDS_WITH_SETUP: readonly FaultKind[] = ['kill-redis-master', 'pause-redis-master', 'restart-workers', 'kill-worker'];

export interface Fault {
  /** ms after the load started */
  atMs: number;
  kind: FaultKind;
  /**
   * how long it lasts, in ms: a killed process (or Redis) stays dead this
   * long before it is started again, Kafka stays stopped this long, the
   * consumer's MySQL connections are killed again and again this long, a
   * paused Redis master stays paused this long (and until its replica took
   * over); a rolling restart of the workers waits this long between one
   * worker's replacement listening and the next worker's SIGTERM
   */
  forMs: number;
}

export class FaultError extends Error {
  readonly code = 'FAULT';
}

export interface FaultSetup {
  scenario: string;
  queue: QueueKind;
  pipeline: 'during' | 'after';
  target: boolean;
  kafka: BrokerControl | null;
  kafkaBrokers: string;
  ownRedis: boolean;
  /** replicas per master of bench's own Redis Cluster; null without --redis-cluster */
  clusterReplicas: number | null;
  /** serve --workers of the run's server */
  workers: number;
}

/** Refuses, before anything starts, a fault this run could not inject. */
export const checkFaultSetup = (faults: Fault[], setup: FaultSetup): void => {
  if (faults.length === 0) return;
  const fail = (problem: string): never => {
    throw new FaultError(`scenario ${setup.scenario}: ${problem}`);
  };
  if (setup.target) fail('faults break processes bench starts itself: not with --target');
  if (setup.pipeline === 'after') fail('faults are injected while the load runs, with relay and consumer running: not with --pipeline after');
  for (const { kind } of faults) {
    if (kind === 'kill-relay' && setup.queue === 'redis')
      fail('fault kill-relay: with --queue redis there is no relay (the consumer reads the outbox; use kill-consumer)');
    if (kind === 'stop-kafka' && setup.queue === 'redis') fail('fault stop-kafka: with --queue redis there is no Kafka');
    if (kind === 'stop-kafka' && !setup.kafka) {
      fail(
        `fault stop-kafka: bench stops only a local broker run by \`seckill kafka start\` from its state dir ($SECKILL_KAFKA_DIR or .seckill/kafka), ` +
          `started by bench (KAFKA_BROKERS unset) or named alone in KAFKA_BROKERS; ${setup.kafkaBrokers} is not such a broker`,
      );
    }
    if (kind === 'restart-redis' && !setup.ownRedis) fail('fault restart-redis: bench restarts only a redis-server it started itself (--own-redis)');
    if ((kind === 'kill-redis-master' || kind === 'pause-redis-master') && !setup.clusterReplicas) {
      fail(
        `fault ${kind}: bench ${kind === 'kill-redis-master' ? 'kills' : 'pauses'} a master only of a Redis Cluster it started itself with a replica per master (--redis-cluster --redis-replicas 1)`,
      );
    }
    if ((kind === 'restart-workers' || kind === 'kill-worker') && setup.workers < 2) {
      fail(
        `fault ${kind}: it stops workers of serve --workers, whose primary starts them again: give the scenario "workers": 2 or more (or bench --workers 2)`,
      );
    }
  }
};
