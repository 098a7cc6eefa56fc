import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueKind } from '../config.js';
import { brokerStatus, startBroker, stopBroker } from '../queue/broker.js';
import { openConnectionKiller } from '../store/connections.js';
import type { OwnRedis } from './own-redis.js';

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

/** The processes bench runs per strategy, by the command that started them. */
export type ProcessRole = 'serve' | 'relay' | 'consume';

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

export interface FaultRun {
  /** faults injected so far, by kind */
  counts: Partial<Record<FaultKind, number>>;
  /** when the last fault to end had brought back what it broke (ms since epoch); null until one has */
  recoveredAt: number | null;
  /** resolves once every fault fired and what it broke is back; rejects when something could not be brought back */
  done: Promise<void>;
  /** faults not yet fired are skipped (the run is being abandoned) */
  cancel(): void;
}

/** What each kind of fault breaks and brings back: faults on the same target take turns. */
const TARGET: Record<FaultKind, string> = {
  'kill-consumer': 'consume',
  'kill-relay': 'relay',
  'kill-server': 'serve',
  'stop-kafka': 'kafka',
  'restart-redis': 'redis',
  'kill-redis-master': 'redis-cluster',
  'pause-redis-master': 'redis-cluster',
  'kill-mysql-connections': 'mysql-connections',
  'restart-workers': 'serve',
  'kill-worker': 'serve',
};

/**
 * Fires each fault at its time from `startedAt`, announcing each on `note`
 * as it happens. Faults on different targets may overlap; two on the same
 * target take turns (the second waits until the first has brought it back),
 * so a fault drawn while its process is already down hits the one that runs
 * next, and never a second copy of it is started.
 */
export const injectFaults = (faults: Fault[], targets: FaultTargets, note: (line: string) => void, startedAt = Date.now()): FaultRun => {
  const run: FaultRun = { counts: {}, recoveredAt: null, done: Promise.resolve(), cancel: () => void (cancelled = true) };
  const counts = run.counts;
  let cancelled = false;
  const turns = new Map<string, Promise<void>>();
  const inTurn = (target: string, work: () => Promise<void>): Promise<void> => {
    const mine = (turns.get(target) ?? Promise.resolve()).catch(() => {}).then(work);
    turns.set(target, mine);
    return mine;
  };
  const waitUntil = async (at: number) => {
    while (!cancelled && Date.now() < at) await sleep(Math.min(100, at - Date.now()));
  };

  const fire = async (fault: Fault): Promise<void> => {
    await waitUntil(startedAt + fault.atMs);
    await inTurn(TARGET[fault.kind], () => strike(fault));
    run.recoveredAt = Math.max(run.recoveredAt ?? 0, Date.now());
  };

  const strike = async (fault: Fault): Promise<void> => {
    if (cancelled) return;
    const said = (line: string) => note(`fault ${fault.kind} at ${((Date.now() - startedAt) / 1000).toFixed(1)}s: ${line}`);
    const count = () => (counts[fault.kind] = (counts[fault.kind] ?? 0) + 1);
    const killAndRestart = async (role: ProcessRole) => {
      const pid = await targets.kill(role);
      count();
      said(`SIGKILLed ${role} (pid ${pid}); a new one starts in ${fault.forMs} ms`);
      await sleep(fault.forMs);
      said(`${role} started again (pid ${await targets.start(role)})`);
    };
    switch (fault.kind) {
      case 'kill-consumer':
        return killAndRestart('consume');
      case 'kill-relay':
        return killAndRestart('relay');
      case 'kill-server':
        return killAndRestart('serve');
      case 'stop-kafka': {
        const kafka = targets.kafka!;
        said(`stopping the Kafka broker at ${kafka.address}`);
        await kafka.stop();
        count();
        said(`Kafka stopped; starting it again in ${fault.forMs} ms`);
        await sleep(fault.forMs);
        await kafka.start();
        return said('Kafka answers again');
      }
      case 'restart-redis': {
        const redis = targets.redis!;
        // SIGKILL, the crash: with appendfsync always nothing acknowledged is lost.
        await redis.kill('SIGKILL');
        count();
        said(`SIGKILLed redis-server on port ${redis.port}; starting it again in ${fault.forMs} ms`);
        await sleep(fault.forMs);
        await redis.launch();
        return said('Redis answers again (append-only file replayed)');
      }
      case 'kill-redis-master': {
        const cluster = targets.redisCluster!;
        const port = await cluster.killMaster();
        count();
        said(`SIGKILLed the Redis master on port ${port}; its replica took over; starting it again in ${fault.forMs} ms`);
        await sleep(fault.forMs);
        await cluster.restart(port);
        return said(`the node on port ${port} is back, as a replica`);
      }
      case 'pause-redis-master': {
        const cluster = targets.redisCluster!;
        const paused = await cluster.pauseMaster();
        count();
        try {
          said(`SIGSTOPped the Redis master on port ${paused.port}; SIGCONT in ${fault.forMs} ms, once its replica has taken over`);
          await sleep(fault.forMs);
          const promoted = await paused.takenOver();
          const pausedMs = await paused.resume();
          said(`SIGCONT to the node on port ${paused.port} after ${pausedMs} ms paused; the node on port ${promoted} had taken over its slots`);
        } finally {
          // Never left stopped, whatever failed: a stopped node would stall the cluster's stop too.
          await paused.resume();
        }
        await cluster.untilAgreed();
        return said(`the cluster agrees again: the node on port ${paused.port} is a replica`);
      }
      case 'restart-workers': {
        const workers = targets.serveWorkers();
        const pids = await workers.pids();
        count();
        said(`a rolling restart of the ${pids.length} workers: SIGTERM to each in turn, the next ${fault.forMs} ms after the replacement listens`);
        for (const [i, pid] of pids.entries()) {
          if (cancelled) return;
          if (i > 0) await sleep(fault.forMs);
          said(`worker ${pid} stopped (SIGTERM); its replacement ${await workers.replace(pid, 'SIGTERM')} listens`);
        }
        return;
      }
      case 'kill-worker': {
        const workers = targets.serveWorkers();
        const [pid] = await workers.pids();
        if (pid === undefined) throw new FaultError('serve has no worker to kill');
        count();
        said(`SIGKILL to worker ${pid}; serve's primary starts a replacement`);
        return said(`the replacement of worker ${pid}, ${await workers.replace(pid, 'SIGKILL')}, listens`);
      }
      case 'kill-mysql-connections': {
        const killer = await openConnectionKiller(targets.mysqlUrl);
        try {
          const until = Date.now() + fault.forMs;
          let killed = 0;
          said(`killing every MySQL connection of the consumer for ${fault.forMs} ms`);
          count();
          do {
            const pid = targets.pid('consume');
            if (pid !== null) killed += await killer.killConnectionsOf(pid);
            await sleep(100);
          } while (Date.now() < until);
          return said(`killed ${killed} MySQL connection(s) of the consumer`);
        } finally {
          await killer.close();
        }
      }
    }
  };

  run.done = Promise.allSettled(faults.map(fire)).then((results) => {
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw new FaultError(`a fault could not be injected or recovered from: ${(failed.reason as Error).message}`);
  });
  run.done.catch(() => {}); // awaited by the caller; never an unhandled rejection meanwhile
  return run;
};
