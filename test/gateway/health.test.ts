import { describe, expect, it } from 'vitest';
import { DependencyHealth, type HealthReport } from '../../src/gateway/health.js';

/** The cached check behind GET /health and seckill_dependency_up, on a clock the test moves. */

const healthOf = (checks: { redis: () => Promise<unknown>; mysql: () => Promise<unknown> }, timeoutMs = 2_000) => {
  let now = 0;
  const reports: HealthReport[] = [];
  const health = new DependencyHealth({ checks, onCheck: (report) => reports.push(report), now: () => now, timeoutMs });
  return { health, reports, advance: (ms: number) => (now += ms) };
};

describe('DependencyHealth', () => {
  it('checks the stores once for 50 callers at once, and again only once the report is a second old', async () => {
    let pings = 0;
    const ping = () => Promise.resolve(pings++);
    const { health, reports, advance } = healthOf({ redis: ping, mysql: ping });
    const answers = await Promise.all(Array.from({ length: 50 }, () => health.current()));
    expect(answers.every((a) => a.ok)).toBe(true);
    expect(reports).toHaveLength(1);
    expect(pings).toBe(2);

    advance(999);
    await Promise.all(Array.from({ length: 50 }, () => health.current()));
    expect(reports).toHaveLength(1);
    advance(1);
    await health.current();
    expect(reports).toHaveLength(2);
  });

  it('says which store is down and why, for one that refuses and for one that does not answer', async () => {
    const refused = healthOf({ redis: () => Promise.resolve('PONG'), mysql: () => Promise.reject(new Error('connect ECONNREFUSED')) });
    expect(await refused.health.current()).toEqual({ ok: false, redis: 'up', mysql: 'down: connect ECONNREFUSED' });

    const silent = healthOf({ redis: () => new Promise(() => {}), mysql: () => Promise.resolve() }, 20);
    expect(await silent.health.current()).toEqual({ ok: false, redis: 'down: no answer in 20 ms', mysql: 'up' });
  });
});
