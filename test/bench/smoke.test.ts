import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { connections } from '../helpers.js';
import { TEST_DEFAULTS } from '../test-env.js';

describe('seckill bench smoke', () => {
  it('sells exactly the stock, end to end, for seckill and both MySQL baselines, with every invariant holding', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['bin/seckill', 'bench', 'smoke', '--compare', 'seckill,mysql-update,mysql-for-update', '--json'],
      { env: { ...process.env, REDIS_URL: connections.redisUrl, MYSQL_URL: connections.mysqlUrl, KAFKA_BROKERS: TEST_DEFAULTS.KAFKA_BROKERS }, timeout: 240_000 },
    );
    const report = JSON.parse(stdout) as { ok: boolean; invariants: { name: string; ok: boolean; detail: string }[]; runs: { strategy: string; sold: number; stock: number; drift: number | null }[] };
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.invariants).toHaveLength(27);
    expect(report.runs.map((r) => [r.strategy, r.sold, r.stock])).toEqual([
      ['seckill', 200, 0],
      ['mysql-update', 200, 0],
      ['mysql-for-update', 200, 0],
    ]);
    expect(report.runs[0]!.drift).toBe(0);
  }, 300_000);
});

describe('seckill bench bots', () => {
  it('lets no bot without a purchase token hold stock, while the honest buyers sell the SKU out', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/seckill', 'bench', 'bots', '--requests', '6000', '--duration', '6', '--json'], {
      env: { ...process.env, REDIS_URL: connections.redisUrl, MYSQL_URL: connections.mysqlUrl, KAFKA_BROKERS: TEST_DEFAULTS.KAFKA_BROKERS },
      timeout: 240_000,
    });
    const report = JSON.parse(stdout) as { ok: boolean; invariants: { name: string; ok: boolean }[]; runs: { outcomes: Record<string, number>; sold: number }[] };
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(report.invariants.map((i) => i.name)).toContain('seckill: bots-without-token-hold-nothing');
    expect(report.runs[0]!.outcomes.BAD_TOKEN).toBeGreaterThan(0);
    expect(report.runs[0]!.sold).toBe(300);
  }, 300_000);
});
