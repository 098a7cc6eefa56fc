import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReportJson } from '../../src/bench/report/report.js';
import { runSeckill, testMysql } from '../helpers.js';

afterAll(async () => {
  await (await testMysql()).end();
});

/** flash-1000 made small: its crowd and bots, 300 units of a SKU of this file's own, 3 s of load. */
const smallFlash = (): string => {
  const scenario = JSON.parse(readFileSync('scenarios/flash-1000.json', 'utf8')) as { skus: { sku: string; stock: number }[]; load: object };
  scenario.skus = [{ ...scenario.skus[0], sku: `open-flash-${process.pid}`, stock: 300 }];
  scenario.load = { ...scenario.load, requests: 20_000, durationSec: 3 };
  const file = join(mkdtempSync(join(tmpdir(), 'seckill-open-')), 'flash-small.json');
  writeFileSync(file, JSON.stringify(scenario));
  return file;
};

describe('seckill bench with an open crowd', () => {
  const scenario = smallFlash();

  it("runs flash-1000 as the seed's spike end to end, every invariant holding, and prints dropped requests and latency from the intended send", async () => {
    const run = await runSeckill(['bench', scenario, '--arrival', 'spike', '--arrival-rate', '1500', '--queue', 'redis']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('every invariant holds for every run');
    expect(run.stdout).toMatch(/seckill\+spike/);
    expect(run.stdout).toMatch(/spike to 1,500\/s in 100 ms/);
    expect(run.stdout).toMatch(/intended \/ sent \/ dropped\s*│\s*1,950 \/ [\d,]+ \/ [\d,]+/);
    expect(run.stdout).toMatch(/p99 \/ max ms from intended send/);
    expect(run.stdout).toMatch(/never sent \(dropped\) [\d,]+/);
  }, 300_000);

  it('runs the closed loop and the spike side by side, the crowd figures under runs[].crowd', async () => {
    const run = await runSeckill(['bench', scenario, '--arrival', 'closed,spike', '--arrival-rate', '1500', '--queue', 'redis', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as BenchReportJson;
    expect(report.ok).toBe(true);
    expect(report.parameters.arrivals).toEqual(['closed', 'spike']);
    expect(report.runs.map((r) => [r.label, r.arrival, r.sold, r.stock, r.drift])).toEqual([
      ['seckill', 'closed', 300, 0, 0],
      ['seckill+spike', 'spike', 300, 0, 0],
    ]);
    const [closed, spike] = report.runs.map((r) => r.crowd);
    expect(closed).toMatchObject({ model: 'closed', dropped: 0, behindScheduleMs: null });
    // The closed loop sends each request as its connection frees: all answered, but those cut in flight when the load stopped.
    expect(closed.sent).toBeGreaterThanOrEqual(report.runs[0].requests);
    expect(closed.intended).toBe(closed.sent);
    expect(spike.intended).toBe(1_950);
    expect(spike.sent + spike.dropped).toBe(spike.intended);
    for (const c of [closed, spike]) {
      expect(c.latencyFromIntendedMs.p99).toBeGreaterThan(0);
      expect(c.latencyFromIntendedMs.max).toBeGreaterThanOrEqual(c.latencyFromIntendedMs.p99);
    }
    expect(report.runs[1].p99Ms).toBe(spike.latencyFromIntendedMs.p99);
  }, 300_000);
});
