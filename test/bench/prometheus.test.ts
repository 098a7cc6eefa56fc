import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnPrometheus } from '../../src/bench/servers/own-prometheus.js';
import { connections, isAlive, runSeckill, uniqueSku, waitFor } from '../helpers.js';
import { TEST_DEFAULTS } from '../test-env.js';
import { dashboardQueries, outerGrouping, type Dashboard } from '../promql.js';

/**
 * `bench --prometheus`: a real Prometheus scrapes a real sale, and every
 * query of dashboards/seckill.json returns a series with the labels its panel
 * shows. One bench run for the file (--keep-prometheus, so the queries are
 * asked after it), and the Prometheus it left is stopped in afterAll, also
 * when a test failed.
 */

/** What bench says when its Prometheus is up: its URL, pid and data dir. */
const STARTED = /prometheus: (http:\/\/\S+) scrapes .*\(pid (\d+), data in (\S+)\)/;

interface BenchRun {
  code: number | null;
  stderr: string;
  startedAt: number;
  endedAt: number;
}

const started: { url: string; pid: number; dir: string }[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'seckill-prom-test-'));

/** Stops every Prometheus a bench of this file said it started, and deletes its data. */
const stopStarted = () => {
  for (const { pid, dir } of started.splice(0)) {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Runs the CLI's bench, noting each Prometheus it starts as soon as it says so (before it ends, or fails). */
const bench = (args: string[]): Promise<BenchRun> =>
  new Promise((resolve) => {
    const startedAt = Date.now();
    const child = spawn(process.execPath, ['bin/seckill', 'bench', ...args], {
      env: { ...process.env, REDIS_URL: connections.redisUrl, MYSQL_URL: connections.mysqlUrl, KAFKA_BROKERS: TEST_DEFAULTS.KAFKA_BROKERS },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = STARTED.exec(stderr);
      if (m && !started.some((s) => s.pid === Number(m[2]))) started.push({ url: m[1], pid: Number(m[2]), dir: m[3] });
    });
    const deadline = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.once('exit', (code) => {
      clearTimeout(deadline);
      resolve({ code, stderr, startedAt, endedAt: Date.now() });
    });
  });

/** The TCP addresses a process listens on (Linux /proc: its socket inodes, looked up in the kernel's tables), e.g. 127.0.0.1:9090. */
const listeningAddresses = (pid: number): string[] => {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSyncSafe(`/proc/${pid}/fd/${fd}`));
      return m ? [m[1]] : [];
    }),
  );
  const LISTEN = '0A';
  return ['tcp', 'tcp6'].flatMap((table) =>
    readFileSync(`/proc/net/${table}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[3] === LISTEN && inodes.has(f[9]))
      .map(([, local]) => {
        const [hex, port] = local.split(':');
        // IPv4 is one little-endian word; an IPv6 address is shown as its hex, which is never 127.0.0.1.
        const ip =
          hex.length === 8
            ? hex
                .match(/../g)!
                .reverse()
                .map((b) => parseInt(b, 16))
                .join('.')
            : `[${hex}]`;
        return `${ip}:${parseInt(port, 16)}`;
      }),
  );
};

const readlinkSyncSafe = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return ''; // the fd closed between the listing and the read
  }
};

interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

/** A range query over the run, every second: what a dashboard showing the sale would draw. */
const queryRange = async (url: string, expr: string, run: BenchRun): Promise<Series[]> => {
  const params = new URLSearchParams({ query: expr, start: String(run.startedAt / 1000), end: String(run.endedAt / 1000), step: '1' });
  const res = await fetch(`${url}/api/v1/query_range?${params}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Series[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
};

/** Grafana's variables as the dashboard would fill them: every SKU, a rate window of 4 scrapes (as Grafana's $__rate_interval at least). */
const asGrafanaSends = (expr: string) => expr.replaceAll('$__rate_interval', '4s').replaceAll('$sku', '.*');

afterAll(() => {
  stopStarted();
  rmSync(scratch, { recursive: true, force: true });
});

describe('seckill bench --prometheus', () => {
  let run: BenchRun;
  let prometheus: { url: string; pid: number; dir: string };
  const sku = uniqueSku('prom');

  beforeAll(async () => {
    // A short sale: 20 units and 6 s of buyers (the request count is a bound far above what 4 connections send in
    // 6 s: the load lasts its duration, over several scrapes), so each panel has something to draw; bench starts it
    // once Prometheus scrapes every process.
    const scenario = join(scratch, 'prom.json');
    writeFileSync(
      scenario,
      JSON.stringify({
        name: 'prometheus',
        description: 'a short sale for a real Prometheus',
        skus: [{ sku, stock: 20, limit: 1 }],
        buyers: 300,
        load: { connections: 4, requests: 100_000, durationSec: 6 },
        expect: { sellOut: true },
        drainTimeoutSec: 60,
      }),
    );
    run = await bench([scenario, '--prometheus', '--keep-prometheus']);
    expect(run.code, run.stderr).toBe(0);
    expect(started, run.stderr).toHaveLength(1);
    prometheus = started[0];
  }, 300_000);

  it('evaluates alerts/seckill.yml, listens on 127.0.0.1 only, and is left running with --keep-prometheus', async () => {
    expect(run.stderr).toContain(`prometheus: left running at ${prometheus.url}`);
    expect(isAlive(prometheus.pid)).toBe(true);
    const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as { data: { groups: { file: string; rules: { name: string }[] }[] } };
    expect(rules.data.groups.map((g) => g.file)).toEqual([join(process.cwd(), 'alerts/seckill.yml')]);
    expect(rules.data.groups[0].rules.map((r) => r.name)).toContain('SeckillDrift');
    expect(listeningAddresses(prometheus.pid)).toEqual([new URL(prometheus.url).host]);
  });

  it('scraped serve, relay, consume and the reconcile watcher, each as a job of its own', async () => {
    // Any successful scrape in a 5 s window: the last scrapes of each process fail once it has stopped.
    const up = await queryRange(prometheus.url, 'max by (job) (max_over_time(up[5s]))', run);
    expect(up.map((s) => s.metric.job).sort()).toEqual(['seckill-consume', 'seckill-reconcile', 'seckill-relay', 'seckill-serve']);
    for (const s of up)
      expect(
        s.values.some(([, v]) => v === '1'),
        s.metric.job,
      ).toBe(true);
  });

  it('answers every query of dashboards/seckill.json with at least one series carrying the labels its panel shows', async () => {
    const dashboard = JSON.parse(readFileSync('dashboards/seckill.json', 'utf8')) as Dashboard;
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(15);
    const problems: string[] = [];
    for (const { where, expr, shows } of queries) {
      const series = await queryRange(prometheus.url, asGrafanaSends(expr), run);
      if (series.length === 0) {
        problems.push(`${where}: no series for ${expr}`);
        continue;
      }
      for (const label of new Set([...shows, ...outerGrouping(expr)])) {
        const without = series.find((s) => !s.metric[label]);
        if (without) problems.push(`${where}: a series of ${expr} has no label ${label}: ${JSON.stringify(without.metric)}`);
      }
    }
    expect(problems).toEqual([]);
    // The sale itself is in the figures: every unit sold was answered OK, and the watcher saw Redis go from 20 units to 0
    // (MySQL follows the consumer, and may reach 0 after the watcher's last round that was scraped).
    const sold = await queryRange(prometheus.url, 'max(seckill_reserve_requests_total{outcome="OK"})', run);
    expect(Number(sold[0].values.at(-1)![1])).toBe(20);
    const stock = await queryRange(prometheus.url, `seckill_stock_units{sku="${sku}"}`, run);
    const byStore = new Map(stock.map((s) => [s.metric.store, s.values.map(([, v]) => Number(v))]));
    expect([...byStore.keys()].sort()).toEqual(['mysql', 'redis']);
    expect([byStore.get('redis')![0], byStore.get('redis')!.at(-1)]).toEqual([20, 0]);
    expect(byStore.get('mysql')![0]).toBe(20);
  });

  it('stops its Prometheus and deletes its data when the run fails', async () => {
    // A fault bench refuses at set-up (no relay to kill with --queue redis): it fails after Prometheus started.
    const failed = await bench(['faults-kill-relay', '--queue', 'redis', '--prometheus']);
    expect(failed.code, failed.stderr).toBe(2);
    expect(failed.stderr).toContain('fault kill-relay');
    const mine = started.find((s) => s.pid !== prometheus.pid);
    expect(mine, failed.stderr).toBeDefined();
    expect(failed.stderr).toContain('prometheus: stopped');
    await waitFor(() => !isAlive(mine!.pid), 10_000, 'its Prometheus gone');
    expect(existsSync(mine!.dir)).toBe(false);
  }, 60_000);

  it('names the apt package when prometheus is not installed', async () => {
    await expect(OwnPrometheus.start({ binary: 'prometheus-not-installed-here' })).rejects.toThrow(/apt-get install prometheus/);
    const run = await runSeckill(['bench', 'smoke', '--keep-prometheus']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('give --prometheus too');
  });
});

describe('the prometheus.yml docs/running-a-sale.md gives to copy', () => {
  it('is a configuration promtool accepts, loading alerts/seckill.yml, with a job for serve, relay, consume and the reconcile watcher', () => {
    const doc = readFileSync('docs/running-a-sale.md', 'utf8');
    const block = /A `prometheus\.yml` to copy[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(doc);
    expect(block, 'the yaml block after "A `prometheus.yml` to copy"').not.toBeNull();
    const dir = join(scratch, 'copied');
    mkdirSync(join(dir, 'alerts'), { recursive: true });
    copyFileSync('alerts/seckill.yml', join(dir, 'alerts/seckill.yml'));
    writeFileSync(join(dir, 'prometheus.yml'), block![1]);
    const checked = execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    expect(checked).toContain('SUCCESS: 1 rule files found');
    expect([...block![1].matchAll(/job_name: (\S+)/g)].map((m) => m[1])).toEqual(['seckill-serve', 'seckill-relay', 'seckill-consume', 'seckill-reconcile']);
  });
});
