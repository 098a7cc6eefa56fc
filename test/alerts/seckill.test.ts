import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createGatewayMetrics } from '../../src/gateway/metrics.js';
import { scrapedRegistry } from '../../src/metrics-server.js';
import { createPipelineMetrics } from '../../src/queue/metrics.js';
import { createReconcileMetrics } from '../../src/reconcile/metrics.js';
import { promqlReads } from '../promql.js';

/**
 * alerts/seckill.yml: promtool accepts it and its own cases pass (a firing
 * and a quiet case for every alert, alerts/seckill.test.yml), and every
 * expression reads only metrics and labels the code registers. An alert on
 * a metric nobody exports never fires: the outage it was written for is
 * silent. promtool is Debian's prometheus package (.ci/run installs it).
 */

const RULES = 'alerts/seckill.yml';
const CASES = 'alerts/seckill.test.yml';

/** Runs promtool; its exit code and everything it said (it explains failures on stdout). */
const promtool = async (...args: string[]): Promise<{ code: number; output: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)('promtool', args, { timeout: 60_000 });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const e = error as { code: number | string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') return { code: -1, output: 'promtool is not installed: apt-get install -y prometheus (as .ci/run does)' };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
};

/**
 * The alerts of a rule file with their expressions: enough YAML for the
 * shape of a rule file (`- alert: Name`, then `expr:` on one line or as a
 * `|` block), not a YAML parser.
 */
const ruleExpressions = (text: string): { alert: string; expr: string }[] => {
  const lines = text.split('\n');
  const rules: { alert: string; expr: string }[] = [];
  let alert: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const named = /^\s*- alert:\s*(\S+)\s*$/.exec(lines[i]);
    if (named) alert = named[1];
    const expr = /^(\s*)expr:\s*(.*)$/.exec(lines[i]);
    if (!expr || alert === null) continue;
    let body = expr[2].trim();
    if (body === '|' || body === '>') {
      const block: string[] = [];
      while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > expr[1].length)) block.push(lines[++i].trim());
      body = block.join(' ').trim();
    }
    rules.push({ alert, expr: body });
    alert = null;
  }
  return rules;
};

/** Every sample name the code's registries can export (a histogram's _bucket, _sum, _count), with the labels of each. */
const registeredMetrics = (): Map<string, Set<string>> => {
  const registries: Registry[] = [
    createGatewayMetrics(
      () => 0,
      () => Promise.resolve({ ok: true, redis: 'up', mysql: 'up' }),
    ).registry,
    createPipelineMetrics().registry,
    createReconcileMetrics().registry,
    scrapedRegistry().registry,
  ];
  const names = new Map<string, Set<string>>();
  for (const registry of registries) {
    for (const metric of registry.getMetricsAsArray() as unknown as { name: string; type: string; labelNames?: string[] }[]) {
      const suffixes = metric.type === 'histogram' ? ['_bucket', '_sum', '_count'] : metric.type === 'summary' ? ['', '_sum', '_count'] : [''];
      const labels = [...(metric.labelNames ?? []), ...(metric.type === 'histogram' ? ['le'] : metric.type === 'summary' ? ['quantile'] : [])];
      for (const suffix of suffixes) names.set(`${metric.name}${suffix}`, new Set(labels));
    }
  }
  return names;
};

/** What Prometheus adds to every scraped sample: an expression may match or group on them. */
const TARGET_LABELS = new Set(['instance', 'job']);

describe('alerts/seckill.yml', () => {
  const rules = ruleExpressions(readFileSync(RULES, 'utf8'));

  it('passes promtool check rules', async () => {
    const run = await promtool('check', 'rules', RULES);
    expect(run.code, run.output).toBe(0);
  });

  it('passes its promtool test rules cases (a firing and a quiet case per alert)', async () => {
    const run = await promtool('test', 'rules', CASES);
    expect(run.code, run.output).toBe(0);
    // A case for every alert: an alert missing from the cases file is untested.
    const cases = readFileSync(CASES, 'utf8');
    const untested = rules.map((r) => r.alert).filter((alert) => (cases.match(new RegExp(`alertname: ${alert}\\s*$`, 'gm')) ?? []).length < 2);
    expect(untested, 'alerts with fewer than two eval cases (one firing, one quiet)').toEqual([]);
  });

  it('reads the alerts of the rule file (the reader itself)', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'SeckillDrift',
      'SeckillDeadLetters',
      'SeckillQueueLagGrowing',
      'SeckillConsumerStalled',
      'SeckillOrdersNotReachingMySQL',
      'SeckillDependencyDown',
      'SeckillServerErrors',
      'SeckillSignInRefusals',
      'SeckillStrandedStock',
    ]);
    expect(rules[0].expr).toBe('seckill_drift_units != 0');
    expect(promqlReads(rules.find((r) => r.alert === 'SeckillConsumerStalled')!.expr).metrics).toEqual([
      'seckill_queue_lag',
      'seckill_orders_persisted_total',
      'seckill_orders_duplicate_total',
      'seckill_releases_total',
    ]);
  });

  it('names only metrics, and labels, that the code registers', () => {
    const registered = registeredMetrics();
    const problems: string[] = [];
    for (const { alert, expr } of rules) {
      const reads = promqlReads(expr);
      if (reads.metrics.length === 0) problems.push(`${alert}: no metric in ${expr}`);
      for (const metric of reads.metrics)
        if (!registered.has(metric)) problems.push(`${alert}: ${metric} is registered by none of serve, relay, consume, reconcile`);
      for (const { metric, labels } of reads.selectors) {
        for (const label of labels)
          if (!TARGET_LABELS.has(label) && !registered.get(metric)?.has(label)) problems.push(`${alert}: ${metric} has no label ${label}`);
      }
      const labelsRead = new Set(reads.metrics.flatMap((m) => [...(registered.get(m) ?? [])]));
      for (const label of reads.grouping)
        if (!TARGET_LABELS.has(label) && !labelsRead.has(label)) problems.push(`${alert}: groups by ${label}, a label none of its metrics has`);
    }
    expect(problems).toEqual([]);
  });
});
