/** Fires a run's faults at their times, one target at a time, and brings back what each broke. */
import { setTimeout as sleep } from 'node:timers/promises';
import { openConnectionKiller } from '../../store/connections.js';
import { FaultError, type Fault, type FaultKind } from './kinds.js';
import type { FaultTargets, ProcessRole } from './targets.js';

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
