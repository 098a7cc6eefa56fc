import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/bench/scenario.js';
import { runSeckill } from '../helpers.js';
import type { BenchReportJson } from '../../src/bench/report/report.js';

/**
 * The sale run by a fleet that is deployed, crashes and disagrees about the
 * time (DESIGN.md, "The fleet"), judged end to end by bench: real `serve
 * --workers` processes, real Redis, MySQL and Kafka, the crowd from its own
 * process.
 */

type Report = BenchReportJson;

const bench = async (...args: string[]): Promise<{ code: number; report: Report; stderr: string }> => {
  const run = await runSeckill(['bench', ...args, '--json'], {}, 180_000);
  return { code: run.code, report: JSON.parse(run.stdout) as Report, stderr: run.stderr };
};

describe('seckill bench deploy: a small drop through rolling restarts and crashed workers', () => {
  it("sells every unit, refusing nobody 429 after the last restart: stopped workers give their tickets back, a dead one's lease ends", async () => {
    const { code, report, stderr } = await bench('deploy');
    expect(
      report.invariants.filter((i) => !i.ok),
      stderr,
    ).toEqual([]);
    expect(code).toBe(0);
    expect(report.invariants.map((i) => i.name)).toContain('seckill: no-unit-unsold-while-refused');
    const [run] = report.runs;
    expect(run.faults).toEqual({ 'restart-workers': 2, 'kill-worker': 2 });
    expect([run.sold, run.stock, run.drift]).toEqual([20, 0, 0]);
    // Nobody was turned away at all, and the figure the report shows for after the last fault says so.
    expect(run.outcomes.ADMISSION_CLOSED ?? 0).toBe(0);
    expect(run.afterFaults!.outcomes.ADMISSION_CLOSED ?? 0).toBe(0);
    expect(Object.values(run.afterFaults!.outcomes).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  }, 180_000);

  it('refuses worker faults without serve --workers, before starting anything (exit 2, the fault named)', async () => {
    const run = await runSeckill(['bench', 'deploy', '--workers', '1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('fault restart-workers: it stops workers of serve --workers');
  });
});

describe('seckill bench clocks: a scheduled sale served by workers whose clocks are 2 s slow and 2 s fast', () => {
  it("sells only inside the window on Redis's clock: every order made in [startsAt, endsAt), the crowd refused before the opening and after the end", async () => {
    const { code, report, stderr } = await bench('clocks');
    expect(
      report.invariants.filter((i) => !i.ok),
      stderr,
    ).toEqual([]);
    expect(code).toBe(0);
    const window = report.invariants.find((i) => i.name === 'seckill: sold-within-window')!;
    expect(window.detail).toMatch(/^1 SKUs with a sale window, all \d+ orders made inside it$/);
    const [run] = report.runs;
    // Sold during the window, not sold out: orders were made up to its end.
    expect(run.sold).toBeGreaterThan(100);
    expect(run.stock).toBeGreaterThan(0);
    expect(run.outcomes.NOT_STARTED).toBeGreaterThan(0);
    expect(run.outcomes.ENDED).toBeGreaterThan(0);
  }, 180_000);
});

describe('scenario fields of the fleet', () => {
  const scenario = (extra: Record<string, unknown>, sku: Record<string, unknown> = {}) =>
    JSON.stringify({ skus: [{ sku: 'f-1', stock: 1, ...sku }], ...extra });

  it("validates workers, clock offsets, the crowd's rate and a relative end, with errors naming the field", () => {
    expect(() => parseScenario('x.json', scenario({ workers: 0 }))).toThrow('x.json: workers must be a whole number from 1 to 64');
    expect(() => parseScenario('x.json', scenario({ clockOffsetsMs: '2000' }))).toThrow('x.json: clockOffsetsMs must be an array of whole ms');
    expect(() => parseScenario('x.json', scenario({ clockOffsetsMs: [1.5] }))).toThrow('x.json: clockOffsetsMs must be an array of whole ms');
    expect(() => parseScenario('x.json', scenario({ load: { rate: 0 } }))).toThrow('x.json: load.rate must be a whole number from 1');
    expect(() => parseScenario('x.json', scenario({}, { opensAfter: '3s', endsAfter: '2s' }))).toThrow('x.json: skus[0].endsAfter must be after opensAfter');
    expect(() => parseScenario('x.json', scenario({}, { endsAt: '2030-01-01T00:00:00Z', endsAfter: '2s' }))).toThrow(
      'x.json: skus[0].endsAfter is relative to the start of the load',
    );
    const parsed = parseScenario('x.json', scenario({ workers: 2, clockOffsetsMs: [-2000, 2000], load: { rate: 300 } }, { opensAfter: '1s', endsAfter: '4s' }));
    expect([parsed.workers, parsed.clockOffsetsMs, parsed.load.rate, parsed.skus[0].opensAfterMs, parsed.skus[0].endsAfterMs]).toEqual([
      2,
      [-2000, 2000],
      300,
      1000,
      4000,
    ]);
    expect(parseScenario('x.json', scenario({}))).toMatchObject({ workers: null, clockOffsetsMs: [], load: { rate: null } });
  });

  it('validates the new fault kinds by name', () => {
    expect(
      parseScenario(
        'x.json',
        scenario({
          faults: [
            { at: '1s', do: 'restart-workers', for: '200ms' },
            { at: '2s', do: 'kill-worker' },
            { at: '3s', do: 'pause-redis-master', for: '5s' },
          ],
        }),
      ).faults.map((f) => f.kind),
    ).toEqual(['restart-workers', 'kill-worker', 'pause-redis-master']);
  });
});
