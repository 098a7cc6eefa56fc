import type { RedisClient } from '../../redis/connection.js';
import { readScriptTime, scriptTimeBetween, type ScriptTime } from '../../redis/command-stats.js';

/** What the load cost Redis, and how the server grouped its reservations. */
export interface RedisCost {
  /** script calls and Redis's own µs for them over the load, every script of every client (INFO commandstats) */
  scripts: ScriptTime;
  /** reserve.lua calls the server made and the buy requests they decided (its seckill_reserve_call_requests histogram) */
  reserveCalls: number;
  reserveRequests: number;
}

const sample = (metrics: string, name: string): number => {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
};

/**
 * Starts measuring at the start of the load; `stop()` at its end. The
 * script time is the Redis server's, so it counts whatever else runs
 * scripts there meanwhile (a relay and consumer running during the load, or
 * another user of a shared Redis): `--pipeline after` on a Redis of the
 * run's own measures the reservations alone.
 */
export const measureRedisCost = async (redis: RedisClient, metricsUrl: string) => {
  const before = await readScriptTime(redis);
  return {
    stop: async (): Promise<RedisCost> => {
      const scripts = scriptTimeBetween(before, await readScriptTime(redis));
      const res = await fetch(`${metricsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) throw new Error(`GET ${metricsUrl}/metrics answered ${res.status}`);
      const metrics = await res.text();
      return {
        scripts,
        reserveCalls: sample(metrics, 'seckill_reserve_call_requests_count'),
        reserveRequests: sample(metrics, 'seckill_reserve_call_requests_sum'),
      };
    },
  };
};
