import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/bench/servers/ports.js';
import { buyMany, ordersOf } from '../queue/pipeline-helpers.js';
import { dashboardQueries, promqlReads, type Dashboard } from '../promql.js';
import { newRedis, preloadSku, scrapeMetrics, startSeckill, uniqueSku, waitFor, type RunningProcess } from '../helpers.js';

/**
 * dashboards/seckill.json queries only what the processes export: every
 * metric (and every label it filters or groups by) is checked against the
 * /metrics of a running serve, relay, consume and reconcile watcher. A panel
 * on a metric nobody exports shows "No data" on the day of the sale.
 */

/** A scrape, as names: every sample name a family's TYPE promises (a labelled counter never incremented has no sample yet, but is exported), and the labels seen per sample name. */
const exportedBy = (text: string) => {
  const names = new Set<string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      const [, name, kind] = type;
      const suffixes = kind === 'histogram' ? ['_bucket', '_sum', '_count'] : kind === 'summary' ? ['', '_sum', '_count'] : [''];
      for (const s of suffixes) names.add(`${name}${s}`);
      continue;
    }
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const seen = labels.get(sample[1]) ?? new Set<string>();
    for (const m of (sample[2] ?? '').matchAll(/([A-Za-z_]\w*)="/g)) seen.add(m[1]);
    labels.set(sample[1], seen);
  }
  return { names, labels };
};

const running: RunningProcess[] = [];
const redis = newRedis();
afterAll(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  redis.disconnect();
});

describe('dashboards/seckill.json', () => {
  const dashboard = JSON.parse(readFileSync('dashboards/seckill.json', 'utf8')) as Dashboard;

  it('reads the metrics the tests expect from a PromQL expression (the checker itself)', () => {
    const reads = promqlReads('sum by (outcome) (rate(seckill_reserve_requests_total{outcome!="OK", sku=~"$sku"}[$__rate_interval])) / time()');
    expect(reads).toEqual({
      metrics: ['seckill_reserve_requests_total'],
      selectors: [{ metric: 'seckill_reserve_requests_total', labels: ['outcome', 'sku'] }],
      grouping: ['outcome'],
    });
    expect(promqlReads('histogram_quantile(0.99, sum by (le) (rate(seckill_reserve_duration_seconds_bucket[1m])))').metrics).toEqual([
      'seckill_reserve_duration_seconds_bucket',
    ]);
  });

  it('queries only metrics and labels that a running serve, relay, consume and reconcile watcher export', async () => {
    const sku = uniqueSku('dash');
    await preloadSku(redis, { sku, stock: 5 });
    const prefix = `t${randomBytes(3).toString('hex')}.`;
    const pipeline = ['--queue', 'kafka', '--topic-prefix', prefix, '--claim-after', '500', '--session-timeout', '6000'];
    const [relayPort, consumePort, reconcilePort] = [await freePort(), await freePort(), await freePort()];
    const start = async (command: string, args: string[]) => {
      const proc = await startSeckill(command, args);
      running.push(proc);
      return proc;
    };
    const serve = await start('serve', ['--port', '0']);
    await start('relay', [...pipeline, '--metrics-port', String(relayPort)]);
    await start('consume', [...pipeline, '--metrics-port', String(consumePort)]);
    // Buyers, so the labelled series exist: OK and SOLD_OUT answers, orders through Kafka into MySQL.
    const url = serve.ready.listening as string;
    await buyMany(url, sku, 8, 4);
    await waitFor(async () => (await ordersOf(sku)).length === 5, 30_000, 'the 5 orders in MySQL');
    await start('reconcile', ['--sku', sku, '--watch', '1', '--grace', '0', '--metrics-port', String(reconcilePort)]);
    const reconcileUrl = `http://127.0.0.1:${reconcilePort}`;
    // The watcher's gauges are its last round's figures: the 5 units sold, in both stores, nothing in flight, no drift.
    await waitFor(
      async () => (await scrapeMetrics(reconcileUrl)).includes(`seckill_drift_units{sku="${sku}"} 0`),
      15_000,
      "reconcile's drift gauge for the SKU",
    );
    const watched = await scrapeMetrics(reconcileUrl);
    for (const sample of [
      `seckill_stock_units{sku="${sku}",store="redis"} 0`,
      `seckill_stock_units{sku="${sku}",store="mysql"} 0`,
      `seckill_in_flight_units{sku="${sku}"} 0`,
    ]) {
      expect(watched).toContain(sample);
    }

    const scrapes = await Promise.all([url, `http://127.0.0.1:${relayPort}`, `http://127.0.0.1:${consumePort}`, reconcileUrl].map(scrapeMetrics));
    const names = new Set(scrapes.flatMap((text) => [...exportedBy(text).names]));
    const labels = new Map<string, Set<string>>();
    for (const text of scrapes) for (const [name, seen] of exportedBy(text).labels) labels.set(name, new Set([...(labels.get(name) ?? []), ...seen]));

    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(15);
    const problems: string[] = [];
    for (const { where, expr } of queries) {
      const reads = promqlReads(expr);
      if (reads.metrics.length === 0) problems.push(`${where}: no metric in ${expr}`);
      for (const metric of reads.metrics) if (!names.has(metric)) problems.push(`${where}: ${metric} is exported by none of serve, relay, consume, reconcile`);
      // Labels can be checked where a sample exists (the buyers above made one for each labelled metric they touch).
      for (const { metric, labels: wanted } of reads.selectors) {
        const seen = labels.get(metric);
        if (seen) for (const l of wanted) if (!seen.has(l)) problems.push(`${where}: ${metric} has no label ${l}`);
      }
      const seenInExpr = reads.metrics.flatMap((m) => [...(labels.get(m) ?? [])]);
      const known = reads.metrics.some((m) => labels.has(m));
      if (known)
        for (const l of reads.grouping) if (!seenInExpr.includes(l)) problems.push(`${where}: groups by ${l}, a label none of ${reads.metrics.join(', ')} has`);
    }
    expect(problems).toEqual([]);
  }, 120_000);
});
