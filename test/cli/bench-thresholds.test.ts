import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOMParser, type Element } from '@xmldom/xmldom';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReportJson } from '../../src/bench/report/report.js';
import { skuKeys } from '../../src/redis/keys.js';
import { getInventory } from '../../src/store/inventory.js';
import { newRedis, runSeckill, testMysql, uniqueSku } from '../helpers.js';

/**
 * What a CI sees of `bench --threshold` and `--junit`: small real sales
 * (50 units, 600 requests, --queue redis), the exit code, stderr, the table
 * or JSON, and the JUnit file read back as XML.
 */

const redis = newRedis();
afterAll(async () => {
  redis.disconnect();
  await (await testMysql()).end();
});

const dir = mkdtempSync(join(tmpdir(), 'seckill-thresholds-'));

/** A sale of the test's own (its own SKU): seconds long. */
const scenarioFile = (name: string, extra: Record<string, unknown> = {}) => {
  const sku = uniqueSku(name);
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      name,
      description: `${name}: a small sale for the thresholds test`,
      skus: [{ sku, stock: 50, limit: 1 }],
      buyers: 500,
      bots: { retries: 0.05 },
      load: { connections: 10, requests: 600, durationSec: 10 },
      expect: { sellOut: true },
      drainTimeoutSec: 30,
      ...extra,
    }),
  );
  return { file, sku };
};

/** The JUnit file's testcases by suite: [suite, testcase, failure message or null]. */
const junitCases = (file: string): [string, string, string | null][] => {
  const doc = new DOMParser({
    onError: (level, message) => {
      throw new Error(`${level}: ${message}`);
    },
  }).parseFromString(readFileSync(file, 'utf8'), 'text/xml');
  const elements = (parent: Element, tag: string) => Array.from(parent.getElementsByTagName(tag));
  return elements(doc.documentElement!, 'testsuite').flatMap((suite) =>
    elements(suite, 'testcase').map((c): [string, string, string | null] => [
      suite.getAttribute('name')!,
      c.getAttribute('name')!,
      elements(c, 'failure')[0]?.getAttribute('message') ?? null,
    ]),
  );
};

describe('bench thresholds in CI', () => {
  it('exits 99 on a threshold that cannot hold, naming it on stderr, in the JSON and as a failed testcase of the JUnit file, with every invariant holding', async () => {
    const { file } = scenarioFile('broken');
    const junit = join(dir, 'broken.xml');
    const run = await runSeckill(['bench', file, '--queue', 'redis', '--threshold', 'p99<0.001ms', '--threshold', 'errors==0', '--junit', junit, '--json']);
    expect(run.code, run.stderr).toBe(99);
    expect(run.stderr).toMatch(/threshold broken: seckill: p99<0\.001ms \(p99 [\d.]+ ms\)/);
    expect(run.stderr).not.toContain('errors==0');
    const report = JSON.parse(run.stdout) as BenchReportJson;
    expect(report.ok).toBe(true);
    expect(report.thresholds.map(({ expr, run: label, metric, ok }) => ({ expr, run: label, metric, ok }))).toEqual([
      { expr: 'p99<0.001ms', run: 'seckill', metric: 'p99', ok: false },
      { expr: 'errors==0', run: 'seckill', metric: 'errors', ok: true },
    ]);
    expect(report.thresholds[0].value).toBe(report.runs[0].p99Ms);
    expect(report.thresholds[1].value).toBe(0);

    const cases = junitCases(junit);
    expect(cases.filter(([, , failure]) => failure !== null)).toEqual([['broken: seckill', 'p99<0.001ms', expect.stringMatching(/^p99 [\d.]+ ms$/)]]);
    expect(cases.map(([, name]) => name)).toEqual([...report.invariants.map((i) => i.name.replace('seckill: ', '')), 'p99<0.001ms', 'errors==0']);
  }, 180_000);

  it("exits 0 when every threshold holds — the scenario's and the command line's, on seckill and the ceiling — listing each as held in the table and the JUnit file", async () => {
    const { file } = scenarioFile('held', { thresholds: ['p99<60s', 'ceiling>=0.01'] });
    const junit = join(dir, 'held.xml');
    const run = await runSeckill(['bench', file, '--queue', 'redis', '--compare', 'seckill,ceiling', '--threshold', 'ceiling:5xx==0', '--junit', junit]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('threshold broken');
    expect(run.stdout).toContain('every invariant holds for every run\nevery threshold holds:');
    expect(run.stdout).toMatch(/✓ seckill: p99<60s \(p99 [\d.]+ ms\)/);
    expect(run.stdout).toMatch(/✓ seckill: ceiling>=0\.01 \(ceiling [\d.]+×\)/);
    expect(run.stdout).toContain('✓ ceiling: ceiling:5xx==0 (5xx 0)');
    expect(run.stdout).toMatch(/│ thresholds +│ all 2 hold +│ all 1 hold +│/);

    const cases = junitCases(junit);
    expect(cases.filter(([, , failure]) => failure !== null)).toEqual([]);
    expect(cases.filter(([suite]) => suite === 'held: ceiling')).toEqual([['held: ceiling', 'ceiling:5xx==0', null]]);
    expect(cases.filter(([suite]) => suite === 'held: seckill').map(([, name]) => name)).toEqual(
      expect.arrayContaining(['no-oversell', 'p99<60s', 'ceiling>=0.01']),
    );
  }, 180_000);

  it('refuses a malformed threshold with exit 2 before anything runs: no sale put on, no report written', async () => {
    const { file, sku } = scenarioFile('refused');
    const junit = join(dir, 'refused.xml');
    const run = await runSeckill(['bench', file, '--queue', 'redis', '--threshold', 'p99 < 150', '--junit', junit]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('threshold "p99 < 150": p99 is a latency: give its unit, ms or s');
    expect(run.stdout).toBe('');
    expect(await redis.exists(...Object.values(skuKeys(sku)))).toBe(0);
    expect(await getInventory(await testMysql(), sku)).toBeNull();
    expect(() => readFileSync(junit)).toThrow('ENOENT');
  });
});
