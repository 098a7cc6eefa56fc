// docs/prometheus-graph.png: Prometheus's own graph page for two of the
// dashboard's queries — drift per SKU and the queue lag — over a bench run
// that a real Prometheus scraped (`bench --prometheus --keep-prometheus`),
// in headless chromium (Debian's, as the browser test uses). The Prometheus
// the run left is stopped and its data deleted at the end, also on failure.
//
//   npm run build && node scripts/prometheus-graph.mjs [bench args]
//   (default: a sale of 1,000 units whose consumer is SIGKILLed 1 s in and started again 2 s later — the Kafka
//   lag grows until the new one takes its partitions, then drains; drift stays 0. Written to a temp file here:
//   it expects no sell-out, so a machine too busy to sell 1,000 units in 8 s still draws the graph)
//
// Needs REDIS_URL, MYSQL_URL (and KAFKA_BROKERS, or bench starts a broker) as bench does.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { URLSearchParams } from 'node:url';
import { chromium } from 'playwright-core';

const OUT = 'docs/prometheus-graph.png';
const CHROMIUM = process.env.SECKILL_CHROMIUM ?? '/usr/bin/chromium';
const scratch = mkdtempSync(join(tmpdir(), 'seckill-prometheus-graph-'));
const defaultScenario = join(scratch, 'kill-consumer.json');
writeFileSync(
  defaultScenario,
  JSON.stringify({
    name: 'prometheus-graph',
    description: 'The consumer SIGKILLed 1 s into the sale and started again 2 s later, for the graphs of a real Prometheus.',
    skus: [{ sku: 'prometheus-graph-1', stock: 1000, limit: 1 }],
    buyers: 50000,
    load: { connections: 20, requests: 40000, durationSec: 8 },
    expect: { sellOut: false },
    drainTimeoutSec: 90,
    faults: [{ at: '1s', do: 'kill-consumer', for: '2s' }],
  }),
);
const benchArgs = process.argv.length > 2 ? process.argv.slice(2) : [defaultScenario];
/**
 * The dashboard's queries shown: "Drift per SKU" beside "Units in flight per SKU" in one graph (a drift of 0 alone
 * is a flat line the classic UI draws no axis for; in flight says what it stayed 0 through), then "Queue lag".
 */
const dashboard = JSON.parse(readFileSync('dashboards/seckill.json', 'utf8'));
const exprOf = (title) => {
  const panel = dashboard.panels.find((p) => p.title === title);
  if (!panel) throw new Error(`dashboards/seckill.json has no panel "${title}": update this script`);
  return panel.targets[0].expr;
};
const metricOf = (title) => /^(\w+)\{sku=~"\$sku"\}$/.exec(exprOf(title))?.[1] ?? fail(`panel "${title}" is not a per-SKU gauge any more: update this script`);
const exprs = [`{__name__=~"${metricOf('Drift per SKU')}|${metricOf('Units in flight per SKU')}"}`, exprOf('Queue lag')];

function fail(message) {
  throw new Error(message);
}

/** Runs bench, noting its Prometheus (URL, pid, data dir) as soon as it says so. */
const runBench = () =>
  new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['bin/seckill', 'bench', ...benchArgs, '--prometheus', '--keep-prometheus'], {
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let stderr = '';
    let prometheus = null;
    child.stderr.on('data', (d) => {
      process.stderr.write(d);
      stderr += d.toString();
      const m = /prometheus: (http:\/\/\S+) scrapes .*\(pid (\d+), data in (\S+)\)/.exec(stderr);
      if (m) prometheus = { url: m[1], pid: Number(m[2]), dir: m[3] };
    });
    child.once('exit', (code) => resolve({ code, prometheus, started, ended: Date.now() }));
  });

const run = await runBench();
rmSync(scratch, { recursive: true, force: true });
try {
  if (!run.prometheus) throw new Error('bench did not start its Prometheus (see its output above)');
  if (run.code !== 0) throw new Error(`bench exited ${run.code}`);
  // The whole run and a little after, ending at a whole minute in UTC as the page's "Until" field takes it.
  const endMs = Math.ceil((run.ended + 5_000) / 60_000) * 60_000;
  const rangeSec = Math.ceil((endMs - run.started) / 1000) + 5;
  const end = new Date(endMs).toISOString().replace('T', ' ').slice(0, 16);
  const params = new URLSearchParams();
  exprs.forEach((expr, i) => {
    params.set(`g${i}.expr`, expr);
    params.set(`g${i}.tab`, '0');
    params.set(`g${i}.stacked`, '0');
    params.set(`g${i}.range_input`, `${rangeSec}s`);
    params.set(`g${i}.end_input`, end);
    params.set(`g${i}.step_input`, '1');
  });
  const profile = mkdtempSync(join(tmpdir(), 'seckill-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1300, height: 900 },
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${run.prometheus.url}/graph?${params}`);
    // Debian's prometheus serves the classic UI (/graph leads there): one drawn rickshaw graph per query, then a moment for the legends.
    await page.waitForFunction((n) => globalThis.document.querySelectorAll('.rickshaw_graph svg path').length >= n, exprs.length, { timeout: 30_000 });
    await page.waitForTimeout(1_000);
    await page.screenshot({ path: OUT, fullPage: true });
    process.stderr.write(`wrote ${OUT}: ${exprs.join(' and ')} over ${rangeSec} s ending ${end} UTC\n`);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
} finally {
  if (run.prometheus) {
    if (isAlive(run.prometheus.pid)) process.kill(run.prometheus.pid, 'SIGTERM');
    // Its data dir goes once it has let go of it.
    for (let i = 0; i < 100 && isAlive(run.prometheus.pid); i++) await new Promise((r) => setTimeout(r, 100));
    rmSync(run.prometheus.dir, { recursive: true, force: true });
    process.stderr.write(`stopped the Prometheus (pid ${run.prometheus.pid}) and deleted ${run.prometheus.dir}\n`);
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
