import { describe, expect, it } from 'vitest';
import { runSeckill } from '../helpers.js';
import type { BenchReportJson } from '../../src/bench/report/report.js';

type Report = BenchReportJson;

const bench = async (...args: string[]): Promise<Report> => {
  const run = await runSeckill(['bench', ...args, '--json'], {}, 300_000);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Report;
};

describe('seckill bench on a Redis Cluster of its own', () => {
  it('sells exactly the stock with two server workers and two consumers on three masters, every invariant holding', async () => {
    const report = await bench('smoke', '--redis-cluster', '--workers', '2', '--consumers', '2');
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(report.runs.map((r) => [r.strategy, r.sold, r.stock, r.drift])).toEqual([['seckill', 200, 0, 0]]);
  }, 300_000);

  it('loses no 201 and sells no unit twice when the master holding the sale is SIGKILLed mid-sale and its replica takes over', async () => {
    const report = await bench('faults-kill-redis-master');
    const run = report.runs[0];
    expect(run.faults).toEqual({ 'kill-redis-master': 1 });
    // every-201-has-its-order, no-oversell, stock conserved, drift 0: the invariants judge the failover.
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(run.sold).toBe(2_000);
    expect(run.drift).toBe(0);
  }, 300_000);
});
