import { afterAll, describe, expect, it } from 'vitest';
import { allSkuKeys, SKU_INDEX_KEY } from '../../src/redis/keys.js';
import { getInventory } from '../../src/store/inventory.js';
import { newRedis, runSeckill, testMysql } from '../helpers.js';
import type { BenchReportJson } from '../../src/bench/report/report.js';
import { checkBenchAnswers } from '../openapi.js';

const redis = newRedis();
afterAll(async () => {
  redis.disconnect();
  await (await testMysql()).end();
});

type Report = BenchReportJson;

const bench = async (...args: string[]): Promise<Report> => {
  const run = await runSeckill(['bench', ...args, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Report;
};

describe('seckill bench smoke', () => {
  it('sells exactly the stock, end to end, for seckill and both MySQL baselines, with every invariant holding', async () => {
    const report = await bench('smoke', '--compare', 'seckill,mysql-update,mysql-for-update');
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.invariants).toHaveLength(33);
    expect(report.runs.map((r) => [r.strategy, r.sold, r.stock])).toEqual([
      ['seckill', 200, 0],
      ['mysql-update', 200, 0],
      ['mysql-for-update', 200, 0],
    ]);
    expect(report.runs[0].drift).toBe(0);
    // What an answer cost each process: the pipeline and Redis for seckill; the server and MySQL for every strategy.
    const costs = report.runs.map((r) => r.processCost!.cpuMicrosPerAnswer);
    expect(costs.map((c) => Object.keys(c).sort())).toEqual([
      ['MySQL', 'Redis', 'bench', 'consumer', 'gateway', 'load generator', 'relay'],
      ['MySQL', 'bench', 'gateway', 'load generator'],
      ['MySQL', 'bench', 'gateway', 'load generator'],
    ]);
    for (const cost of costs) expect(cost.gateway).toBeGreaterThan(0);
    // One answer of each kind the buyers got, from every strategy, as openapi.json describes it.
    for (const run of report.runs) checkBenchAnswers(run.answerSamples);
    expect(report.runs[0].answerSamples.map((a) => a.status).sort()).toEqual(expect.arrayContaining([201, 409, 410]));
    // Judged, then gone: nothing is left for a later consumer's sweeper (or reconcile) to act on.
    expect(await getInventory(await testMysql(), 'smoke-1')).toBeNull();
    expect(await redis.exists(...allSkuKeys('smoke-1'))).toBe(0);
    expect(await redis.sismember(SKU_INDEX_KEY, 'smoke-1')).toBe(0);
  }, 300_000);
});

describe('seckill bench bots', () => {
  it('lets no bot without a purchase token and no impostor hold stock, while the signed-in honest buyers sell the SKU out', async () => {
    const report = await bench('bots', '--requests', '6000', '--duration', '6');
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(report.invariants.map((i) => i.name)).toEqual(
      expect.arrayContaining(['seckill+jwt: bots-without-token-hold-nothing', 'seckill+jwt: bots-with-bad-identity-hold-nothing']),
    );
    expect(report.runs[0].outcomes.BAD_TOKEN).toBeGreaterThan(0);
    // Impostors were there and were refused: 401 for the bad tokens, 403 for a good token naming another buyer.
    expect(report.runs[0].outcomes.UNAUTHORIZED).toBeGreaterThan(0);
    expect(report.runs[0].outcomes.WRONG_USER).toBeGreaterThan(0);
    expect(report.runs[0].sold).toBe(300);
    // Buyers whose reply was lost retried after the sell-out: each that held an order was told it.
    const lost = report.runs[0].lostReplies!;
    expect(lost.heldOrder).toBeGreaterThan(0);
    expect(lost.toldOrderId).toBe(lost.heldOrder);
    // The refusals of sign-in and purchase tokens too, as openapi.json describes them.
    checkBenchAnswers(report.runs[0].answerSamples);
    expect(report.runs[0].answerSamples.map((a) => a.status)).toEqual(expect.arrayContaining([401, 403]));
  }, 300_000);
});

describe('seckill bench scheduled', () => {
  it('sells every unit of a sale that opens 3 s into the load: the crowd before it gets 403, nobody 429, lost replies told', async () => {
    const report = await bench('scheduled');
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(report.invariants.map((i) => i.name)).toContain('seckill: no-unit-unsold-while-refused');
    const [run] = report.runs;
    expect(run.beforeOpening!.NOT_STARTED).toBeGreaterThan(1_000);
    expect(run.outcomes.ADMISSION_CLOSED ?? 0).toBe(0);
    expect([run.sold, run.stock, run.drift]).toEqual([1_000, 0, 0]);
    expect(run.lostReplies!.toldOrderId).toBe(run.lostReplies!.heldOrder);
    checkBenchAnswers(run.answerSamples);
  }, 300_000);
});
