import { Cluster } from 'ioredis';
import type { RedisClient } from './connection.js';

/** Redis's own account of the time its scripts took (INFO commandstats). */
export interface ScriptCounters {
  calls: number;
  /** µs Redis spent running them, by its own clock */
  usec: number;
}

/** Summed over every master, and each master's own (by host:port): one core each, the busiest one is where a hot SKU stops. */
export interface ScriptTime extends ScriptCounters {
  byMaster: Record<string, ScriptCounters>;
}

/** The script commands: EVALSHA (what ioredis sends), EVAL (its NOSCRIPT fallback). */
const SCRIPT_STAT = /^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm;

/** The script time in one INFO commandstats text. */
export const parseScriptTime = (info: string): ScriptCounters => {
  const total = { calls: 0, usec: 0 };
  for (const [, calls, usec] of info.matchAll(SCRIPT_STAT)) {
    total.calls += Number(calls);
    total.usec += Number(usec);
  }
  return total;
};

/**
 * Script calls and their time so far on every master. The counters are the
 * server's, shared by every client and database of it: a difference over a
 * window says what that window cost only when nothing else ran scripts on it.
 */
export const readScriptTime = async (redis: RedisClient): Promise<ScriptTime> => {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const byMaster = Object.fromEntries(
    await Promise.all(nodes.map(async (node) => [`${node.options.host}:${node.options.port}`, parseScriptTime(await node.info('commandstats'))] as const)),
  );
  return { ...sumCounters(Object.values(byMaster)), byMaster };
};

const sumCounters = (all: ScriptCounters[]): ScriptCounters =>
  all.reduce((a, b) => ({ calls: a.calls + b.calls, usec: a.usec + b.usec }), { calls: 0, usec: 0 });

/** What ran between two readings (a master that appeared in between, after a failover, counts from 0). */
export const scriptTimeBetween = (before: ScriptTime, after: ScriptTime): ScriptTime => {
  const byMaster = Object.fromEntries(
    Object.entries(after.byMaster).map(([node, a]) => {
      const b = before.byMaster[node] ?? { calls: 0, usec: 0 };
      return [node, { calls: a.calls - b.calls, usec: a.usec - b.usec }];
    }),
  );
  return { calls: after.calls - before.calls, usec: after.usec - before.usec, byMaster };
};

/** The master that spent the most script time. */
export const busiestMaster = (time: ScriptTime): ScriptCounters => Object.values(time.byMaster).sort((a, b) => b.usec - a.usec)[0] ?? { calls: 0, usec: 0 };

/** CPU seconds (user + system) each master's server has spent since it started, by host:port (INFO cpu). */
export const readCpuSeconds = async (redis: RedisClient): Promise<Record<string, number>> => {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  return Object.fromEntries(
    await Promise.all(
      nodes.map(async (node) => {
        const info = await node.info('cpu');
        const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
        return [`${node.options.host}:${node.options.port}`, field('used_cpu_user') + field('used_cpu_sys')] as const;
      }),
    ),
  );
};
