import { describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../../../src/bench/judge/threshold-metrics.js';
import { checkThresholdsFit, judgeThresholds, parseThreshold, ThresholdError } from '../../../src/bench/judge/thresholds.js';
import { LATENCY_PERCENTILES } from '../../../src/bench/load/load-plan.js';
import type { StrategyRun } from '../../../src/bench/report/figures.js';
import { parseScenario } from '../../../src/bench/scenario.js';
import { benchExit } from '../../../src/cli/bench.js';
import type { StrategyName } from '../../../src/gateway/strategies/strategy.js';

/** A run with the figures thresholds read: every latency percentile at `percentile` ms (p99 = 99 ms), and the rest given. */
const runOf = (strategy: StrategyName, figures: Partial<StrategyRun> = {}): StrategyRun =>
  ({
    strategy,
    auth: 'none',
    replicaAcks: 0,
    label: strategy,
    rps: 1_000,
    maxMs: 250,
    errors: 0,
    serverErrors: 0,
    arrival: 'closed',
    crowd: { dropped: 0 },
    latencyPercentiles: LATENCY_PERCENTILES.map((p) => ({ percentile: p, ms: p })),
    ...figures,
  }) as StrategyRun;

const refusal = (raw: string): string => {
  try {
    parseThreshold(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ThresholdError);
    return (error as Error).message;
  }
  throw new Error(`${raw} was taken`);
};

describe('parsing a threshold', () => {
  it.each([
    ['p99<150ms', { strategy: null, metric: 'p99', op: '<', limit: 150 }],
    ['p50<=20ms', { strategy: null, metric: 'p50', op: '<=', limit: 20 }],
    ['p99.9 < 1.5s', { strategy: null, metric: 'p99.9', op: '<', limit: 1_500 }],
    ['max<1.1s', { strategy: null, metric: 'max', op: '<', limit: 1_100 }],
    ['p99<0.001ms', { strategy: null, metric: 'p99', op: '<', limit: 0.001 }],
    ['ceiling>=0.7', { strategy: null, metric: 'ceiling', op: '>=', limit: 0.7 }],
    ['errors==0', { strategy: null, metric: 'errors', op: '==', limit: 0 }],
    ['mysql-update:5xx!=3', { strategy: 'mysql-update', metric: '5xx', op: '!=', limit: 3 }],
    ['seckill:rps>500', { strategy: 'seckill', metric: 'rps', op: '>', limit: 500 }],
  ])('reads %s', (raw, expected) => {
    expect(parseThreshold(raw)).toEqual({ expr: raw.trim(), ...expected });
  });

  it.each([
    ['', 'is not [strategy:]metric<op>value'],
    ['p99', 'is not [strategy:]metric<op>value'],
    ['p99<<150ms', 'is not [strategy:]metric<op>value'],
    ['p99=150ms', 'is not [strategy:]metric<op>value'],
    ['p99<-1ms', 'is not [strategy:]metric<op>value'],
    ['p 99<150ms', 'is not [strategy:]metric<op>value'],
    ['p99<150ms extra', 'is not [strategy:]metric<op>value'],
    ['p98<150ms', 'unknown metric "p98"'],
    ['toString<1', 'unknown metric "toString"'],
    ['p99<150', 'p99 is a latency: give its unit, ms or s'],
    ['p99<150us', 'p99 is a latency: give its unit, ms or s'],
    ['errors==0ms', 'errors is a count: a plain number, no unit'],
    ['ceiling>=70%', 'is not [strategy:]metric<op>value'],
    ['fastest:p99<1ms', 'unknown strategy "fastest" (strategies: seckill, mysql-update, mysql-for-update, ceiling)'],
  ])('refuses %j, naming it and what is wrong', (raw, problem) => {
    const message = refusal(raw);
    expect(message).toContain(`threshold ${JSON.stringify(raw)}`);
    expect(message).toContain(problem);
  });

  it('lists every metric there is when it does not know the one named, or cannot read the threshold at all', () => {
    for (const raw of ['p98<1ms', 'p99<<1ms']) expect(refusal(raw)).toContain(`metrics: ${METRIC_NAMES.join(', ')}`);
    expect(METRIC_NAMES).toEqual(expect.arrayContaining(['p50', 'p99', 'p99.9', 'max', 'rps', 'ceiling', 'errors', '5xx']));
  });

  it('names the file and the entry of a bad threshold in a scenario, and reads the good ones', () => {
    const scenario = (thresholds: unknown) => JSON.stringify({ skus: [{ sku: 's-1', stock: 1 }], thresholds });
    expect(parseScenario('x.json', scenario(['p99<150ms', 'errors==0'])).thresholds.map((t) => t.expr)).toEqual(['p99<150ms', 'errors==0']);
    expect(() => parseScenario('x.json', scenario(['p99<150ms', 'p99<150']))).toThrow('x.json: thresholds[1] threshold "p99<150": p99 is a latency');
    expect(() => parseScenario('x.json', scenario('p99<150ms'))).toThrow('x.json: thresholds must be an array of strings');
    expect(parseScenario('x.json', JSON.stringify({ skus: [{ sku: 's-1', stock: 1 }] })).thresholds).toEqual([]);
  });
});

describe('a threshold the run could not judge', () => {
  const fit = (raw: string, strategies: StrategyName[]) => () => checkThresholdsFit([parseThreshold(raw)], strategies);

  it('is refused before the run when its strategy is not in it, or its metric needs a run that is not', () => {
    expect(fit('p99<1ms', ['mysql-update'])).toThrow(
      'holds seckill to it, and this run has no seckill (strategies: mysql-update): name the strategy, e.g. mysql-update:p99<1ms',
    );
    expect(fit('mysql-update:p99<1ms', ['seckill'])).toThrow('mysql-update is not in this run (strategies: seckill)');
    expect(fit('ceiling>=0.7', ['seckill'])).toThrow('ceiling needs a ceiling run to divide by: add it to --compare');
    expect(fit('ceiling>=0.7', ['seckill', 'ceiling'])).not.toThrow();
    expect(fit('mysql-update:p99<1ms', ['seckill', 'mysql-update'])).not.toThrow();
  });
});

describe('judging thresholds', () => {
  const judge = (raws: string[], runs: StrategyRun[]) => judgeThresholds(raws.map(parseThreshold), runs);

  it('holds each to the value it names, on the limit itself as its operator says', () => {
    const results = judge(['p99<99ms', 'p99<=99ms', 'p99>=99ms', 'p99>99ms', 'p99==99ms', 'p99!=99ms', 'p50<0.05s', 'max<250ms'], [runOf('seckill')]);
    expect(results.map((r) => [r.expr, r.value, r.ok])).toEqual([
      ['p99<99ms', 99, false],
      ['p99<=99ms', 99, true],
      ['p99>=99ms', 99, true],
      ['p99>99ms', 99, false],
      ['p99==99ms', 99, true],
      ['p99!=99ms', 99, false],
      ['p50<0.05s', 50, false],
      ['max<250ms', 250, false],
    ]);
  });

  it('reads counts, requests/s and the ceiling ratio of the run of the same sign-in', () => {
    const runs = [
      runOf('seckill', { rps: 700, errors: 2, serverErrors: 5 }),
      runOf('seckill', { auth: 'jwt', label: 'seckill+jwt', rps: 300 }),
      runOf('ceiling', { rps: 1_000 }),
      runOf('ceiling', { auth: 'jwt', label: 'ceiling+jwt', rps: 600 }),
    ];
    const results = judge(['ceiling>=0.7', 'errors==0', '5xx<=5', 'rps>400'], runs);
    expect(results.map((r) => [r.run, r.expr, r.value, r.ok])).toEqual([
      ['seckill', 'ceiling>=0.7', 0.7, true],
      ['seckill+jwt', 'ceiling>=0.7', 0.5, false],
      ['seckill', 'errors==0', 2, false],
      ['seckill+jwt', 'errors==0', 0, true],
      ['seckill', '5xx<=5', 5, true],
      ['seckill+jwt', '5xx<=5', 0, true],
      ['seckill', 'rps>400', 700, true],
      ['seckill+jwt', 'rps>400', 300, false],
    ]);
    expect(results[1].detail).toBe('ceiling 0.500×');
  });

  it("reads an open crowd's dropped requests, and divides by the ceiling's run of the same crowd", () => {
    const runs = [
      runOf('seckill', { rps: 700 }),
      runOf('seckill', { arrival: 'spike', label: 'seckill+spike', rps: 150, crowd: { dropped: 40 } as StrategyRun['crowd'] }),
      runOf('ceiling', { rps: 1_000 }),
      runOf('ceiling', { arrival: 'spike', label: 'ceiling+spike', rps: 200, crowd: { dropped: 10 } as StrategyRun['crowd'] }),
    ];
    expect(judge(['dropped==0', 'ceiling>=0.6'], runs).map((r) => [r.run, r.expr, r.value, r.ok])).toEqual([
      ['seckill', 'dropped==0', 0, true],
      ['seckill+spike', 'dropped==0', 40, false],
      ['seckill', 'ceiling>=0.6', 0.7, true],
      ['seckill+spike', 'ceiling>=0.6', 0.75, true],
    ]);
  });

  it('holds a prefixed threshold to its strategy only, and one written without to seckill only', () => {
    const runs = [runOf('seckill', { serverErrors: 1 }), runOf('mysql-update', { serverErrors: 0 })];
    expect(judge(['mysql-update:5xx==0', '5xx==0'], runs).map((r) => [r.run, r.ok])).toEqual([
      ['mysql-update', true],
      ['seckill', false],
    ]);
  });

  it('breaks a threshold whose value the run did not measure, rather than calling it held', () => {
    const [result] = judge(['ceiling>=0.1'], [runOf('seckill'), runOf('ceiling', { rps: 0 })]);
    expect(result).toMatchObject({ value: null, ok: false, detail: 'ceiling not measured in this run' });
  });
});

describe("bench's exit code", () => {
  const held = { expr: 'p99<1ms', run: 'seckill', metric: 'p99', value: 0.5, ok: true, detail: '' };
  const broken = { ...held, value: 2, ok: false };
  it('is 0 when all hold, 99 when a threshold broke, 1 when an invariant broke, whether a threshold broke too or not', () => {
    expect(benchExit({ ok: true, thresholds: [] })).toBe(0);
    expect(benchExit({ ok: true, thresholds: [held] })).toBe(0);
    expect(benchExit({ ok: true, thresholds: [held, broken] })).toBe(99);
    expect(benchExit({ ok: false, thresholds: [held] })).toBe(1);
    expect(benchExit({ ok: false, thresholds: [broken] })).toBe(1);
  });
});
