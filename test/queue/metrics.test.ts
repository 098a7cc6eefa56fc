import { afterEach, describe, expect, it } from 'vitest';
import { OwnRedis } from '../../src/bench/servers/own-redis.js';
import { freePort } from '../../src/bench/servers/ports.js';
import { metricValue, startSeckill, waitFor, type RunningProcess } from '../helpers.js';

/** A relay's or consumer's /metrics scraped while its Redis is down: answered, counted, and the process lives on. */

const running: RunningProcess[] = [];
const redisServers: OwnRedis[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(redisServers.splice(0).map((r) => r.stop()));
});

const alive = (p: RunningProcess) => p.process.exitCode === null && p.process.signalCode === null;

describe('--metrics-port while a dependency is down', () => {
  it.each([
    ['consume', ['--queue', 'redis']],
    ['relay', []],
  ])(
    '%s answers every scrape and keeps running while its Redis is down',
    async (command, args) => {
      const redis = await OwnRedis.start();
      redisServers.push(redis);
      const port = await freePort();
      const proc = await startSeckill(command, [...args, '--metrics-port', String(port)], { REDIS_URL: redis.url });
      running.push(proc);
      const url = `http://127.0.0.1:${port}/metrics`;
      expect((await fetch(url)).status).toBe(200);

      await redis.kill('SIGKILL');
      const failures = async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
        // The lag cannot be read: the last value stays, and the failure is counted.
        expect(res.status).toBe(200);
        return metricValue(await res.text(), 'seckill_metrics_errors_total{what="lag"}');
      };
      // The first scrape may come before the process has noticed Redis is gone.
      await waitFor(async () => (await failures()) >= 1, 30_000, 'a scrape that finds Redis down');
      for (let i = 0; i < 2; i++) expect(await failures()).toBeGreaterThan(i + 1);
      expect(alive(proc)).toBe(true);
    },
    90_000,
  );
});
