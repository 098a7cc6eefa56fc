import { Cluster } from 'ioredis';
import type { RedisClient } from './connection.js';

/** Redis's own account of the time its scripts took (INFO commandstats), summed over every master. */
export interface ScriptTime {
  calls: number;
  /** µs Redis spent running them, by its own clock */
  usec: number;
}

/** The script commands: EVALSHA (what ioredis sends), EVAL (its NOSCRIPT fallback). */
const SCRIPT_STAT = /^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm;

/** The script time in one INFO commandstats text. */
export const parseScriptTime = (info: string): ScriptTime => {
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
  const infos = await Promise.all(nodes.map((node) => node.info('commandstats')));
  return infos.map(parseScriptTime).reduce((a, b) => ({ calls: a.calls + b.calls, usec: a.usec + b.usec }), { calls: 0, usec: 0 });
};

/** What ran between two readings. */
export const scriptTimeBetween = (before: ScriptTime, after: ScriptTime): ScriptTime => ({ calls: after.calls - before.calls, usec: after.usec - before.usec });
