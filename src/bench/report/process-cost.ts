import type { RedisClient } from '../../redis/connection.js';
import { readCpuSeconds } from '../../redis/command-stats.js';
import { cpuMicrosOf, pidsNamed, processTree } from './cpu-time.js';

/**
 * What an answer costs each kind of process, in CPU µs: "seckill reaches
 * 0.62 × the ceiling" read as "its gateway spends N µs an answer where the
 * ceiling's spends M", and where the rest goes (relay, consumer, Redis,
 * MySQL, the load generator and bench itself share the machine's cores).
 */
export type CostKind = 'gateway' | 'relay' | 'consumer' | 'load generator' | 'bench' | 'Redis' | 'MySQL';

export const COST_KINDS: CostKind[] = ['gateway', 'relay', 'consumer', 'Redis', 'MySQL', 'load generator', 'bench'];

export interface ProcessCost {
  /** requests the load got an answer to */
  answers: number;
  /** CPU µs per answer, by kind, from the start of the load until its orders were in MySQL; a kind the run does not have is left out */
  cpuMicrosPerAnswer: Partial<Record<CostKind, number>>;
}

/** The processes of each kind bench runs for this strategy, as pids (each with what it started: serve's workers). */
export type RolePids = Partial<Record<'gateway' | 'relay' | 'consumer', number[]>>;

type Reading = Map<CostKind, Map<string, number>>;

/** MySQL's server, when it runs on this machine: its pids by name. */
const MYSQL_SERVERS = ['mariadbd', 'mysqld'];

const readAll = async (roles: RolePids, redis: RedisClient | null, localMysql: boolean): Promise<Reading> => {
  const reading: Reading = new Map();
  const put = (kind: CostKind, key: string, micros: number | null) => {
    if (micros === null) return;
    if (!reading.has(kind)) reading.set(kind, new Map());
    reading.get(kind)!.set(key, micros);
  };
  for (const [kind, pids] of Object.entries(roles) as [CostKind, number[]][]) {
    const tree = (await Promise.all(pids.map(processTree))).flat();
    for (const pid of tree) put(kind, String(pid), await cpuMicrosOf(pid));
  }
  if (localMysql) for (const pid of await pidsNamed(MYSQL_SERVERS)) put('MySQL', String(pid), await cpuMicrosOf(pid));
  if (redis) for (const [node, seconds] of Object.entries(await readCpuSeconds(redis))) put('Redis', node, seconds * 1e6);
  const own = process.cpuUsage();
  put('bench', 'self', own.user + own.system);
  return reading;
};

/**
 * Starts measuring (at the start of the load); `stop()` once its orders are
 * in MySQL. A process counts only if it ran at both readings: one started in
 * between (a pipeline started after the load) would bring its start-up, one
 * gone (killed by a fault) would take its CPU with it. Redis's and MySQL's
 * figures are the whole server's: on a shared machine, another user's work
 * there counts too.
 */
export const measureProcessCost = async (roles: () => RolePids, redis: RedisClient | null, localMysql: boolean) => {
  const before = await readAll(roles(), redis, localMysql);
  return {
    stop: async (answers: number, loadGeneratorMicros: number): Promise<ProcessCost> => {
      const after = await readAll(roles(), redis, localMysql);
      const cpuMicrosPerAnswer: ProcessCost['cpuMicrosPerAnswer'] = {};
      if (answers > 0) {
        for (const [kind, now] of after) {
          const then = before.get(kind);
          const shared = [...now].filter(([key]) => then?.has(key));
          if (shared.length > 0) cpuMicrosPerAnswer[kind] = shared.reduce((sum, [key, micros]) => sum + micros - then!.get(key)!, 0) / answers;
        }
        cpuMicrosPerAnswer['load generator'] = loadGeneratorMicros / answers;
      }
      return { answers, cpuMicrosPerAnswer };
    },
  };
};
