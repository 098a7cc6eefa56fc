import { TIME_SLOT_MS } from '../../load/load-plan.js';
import { comparisonRows, crowdWarnings, drainRateLine, runLine, thresholdsHold, thresholdText, type BenchReport } from '../report.js';
import type { StrategyRun } from '../figures.js';
import { runCharts, type ChartSpec } from './charts.js';
import { escapeHtml as e, htmlPage } from './page.js';

const figure = (spec: ChartSpec) =>
  `<figure class="chart"><figcaption><b>${e(spec.title)}</b>${e(spec.caption)}</figcaption><div id="${e(spec.id)}"></div></figure>`;

const comparisonTable = (report: BenchReport) => {
  const head = `<thead><tr><th></th>${report.runs.map((r) => `<th>${e(r.strategy)}</th>`).join('')}</tr></thead>`;
  const rows = comparisonRows(report).map(
    (row) => `<tr><th${row.sub ? ' class="sub"' : ''}>${e(row.label)}</th>${row.cells.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`,
  );
  return `<table class="comparison">${head}<tbody>${rows.join('')}</tbody></table>`;
};

const rate = (n: number, ms: number) => Math.round((n * 1000) / ms).toLocaleString('en');
const at = (ms: number | undefined) => (ms === undefined ? 'not within the run' : `${(ms / 1000).toFixed(2)} s`);

/** What happened at a strategy's sell-out, in figures read off its timelines: the moment the charts zoom in on. */
const sellOutFacts = (run: StrategyRun): string | null => {
  if (run.sellOutMs === null) return null;
  const sellOut = run.sellOutMs;
  const before = run.timeline.filter((p) => p.atMs + TIME_SLOT_MS <= sellOut);
  const answered = (p: StrategyRun['timeline'][number]) => Object.values(p.outcomes).reduce((a, b) => a + b, 0);
  const spanBefore = before.length * TIME_SLOT_MS;
  const beforeText =
    spanBefore > 0
      ? `${rate(
          before.reduce((n, p) => n + answered(p), 0),
          spanBefore,
        )} answers/s (${rate(
          before.reduce((n, p) => n + (p.outcomes.OK ?? 0), 0),
          spanBefore,
        )} OK/s)`
      : 'sold out within the first time slot';
  const after = run.afterSellOutRps === null ? '–' : `${Math.round(run.afterSellOutRps).toLocaleString('en')} answers/s`;
  const loaded = run.stockTimeline.filter((p) => p.atMs >= 0);
  const redisZero = loaded.find((p) => p.redis === 0)?.atMs;
  const mysqlFinal = loaded.find((p) => p.mysql === run.stock)?.atMs;
  const stores = [
    ...(loaded.some((p) => p.redis !== null) ? [`Redis stock 0 at ${at(redisZero)}`] : []),
    `MySQL stock at its final ${run.stock.toLocaleString('en')} at ${at(mysqlFinal)}`,
  ];
  return `<li><b>${e(run.strategy)}</b> sold out ${Math.round(sellOut)} ms into the load. Before: ${beforeText}; after: ${after}. ${stores.join('; ')}.</li>`;
};

const invariantList = (run: StrategyRun) => {
  if (run.invariants.length === 0) return `<h3>${e(run.strategy)}</h3><p class="note">none: the ceiling stores nothing, there is no sale to check</p>`;
  const items = run.invariants.map((i) => `<li class="${i.ok ? 'ok' : 'bad'}">${i.ok ? '✓' : '✗'} <b>${e(i.name)}</b>: ${e(i.detail)}</li>`);
  return `<h3>${e(run.strategy)}</h3><ul class="invariants">${items.join('')}</ul>`;
};

/** The thresholds, each on each run of its strategy; nothing when none was given. */
const thresholdSection = (report: BenchReport) => {
  if (report.thresholds.length === 0) return '';
  const items = report.thresholds.map((t) => `<li class="${t.ok ? 'ok' : 'bad'}">${t.ok ? '✓' : '✗'} ${e(thresholdText(t))}</li>`);
  return `<h2>Thresholds</h2>\n<ul class="thresholds">${items.join('')}</ul>`;
};

const thresholdSummary = (report: BenchReport) => {
  if (report.thresholds.length === 0) return '';
  return thresholdsHold(report)
    ? ' <span class="ok">Every threshold holds.</span>'
    : ` <span class="bad">Thresholds broken: ${e(
        report.thresholds
          .filter((t) => !t.ok)
          .map((t) => `${t.run}: ${t.expr}`)
          .join(', '),
      )}.</span>`;
};

const parameterList = (report: BenchReport) => {
  const {
    parameters: p,
    environment: { machine, versions },
  } = report;
  const entries: [string, string][] = [
    ['scenario', `${report.scenario} — ${report.description}`],
    ['date', report.date],
    ['strategies', p.strategies.join(', ')],
    ['seed', String(p.seed)],
    [
      'load',
      `${p.load.connections} connections${p.load.rate ? ` at ${p.load.rate.toLocaleString('en')} requests/s` : ''}, ${p.load.requests.toLocaleString('en')} requests or ${p.load.durationSec} s, whichever comes first`,
    ],
    ['buyers', `a population of ${p.buyers.toLocaleString('en')}`],
    ['SKUs', p.skus.map((s) => `${s.sku}: ${s.stock.toLocaleString('en')} units, limit ${s.limit}`).join('; ')],
    ['pipeline', runLine(report)],
    ['processes', `${p.workers} server worker(s), ${p.consumers} consumer(s)`],
    ['Redis', p.redis],
    ['machine', `${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GB, ${machine.os}`],
    [
      'versions',
      `seckill ${versions.seckill}, Node ${versions.node}, Redis ${versions.redis}, MySQL ${versions.mysql}${versions.kafka === null ? '' : `, Kafka ${versions.kafka}`}`,
    ],
  ];
  return `<dl class="parameters">${entries.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join('')}</dl>`;
};

/** One self-contained page for a bench run: the comparison as a table, every figure with every strategy on it, the invariants, the parameters. */
export const reportHtml = (report: BenchReport): string => {
  const charts = runCharts(report.runs);
  const chartsOf = (ids: string[]) =>
    `<div class="charts">${charts
      .filter((c) => ids.includes(c.id))
      .map(figure)
      .join('')}</div>`;
  const sellOuts = report.runs.map(sellOutFacts).filter((x) => x !== null);
  const drain = drainRateLine(report);
  const body = `<h1>seckill bench: ${e(report.scenario)}</h1>
<p>${e(report.description)}</p>
<p>${report.ok ? '<span class="ok">Every invariant holds for every strategy.</span>' : '<span class="bad">Invariants broken: see the list below.</span>'}${thresholdSummary(report)} Measured ${e(report.date)}; the strategies ran one after the other on the same machine: compare the columns, not the machines.</p>
${sellOuts.length > 0 ? `<h2>At the sell-out</h2><ul>${sellOuts.join('')}</ul>` : ''}
<h2>Comparison</h2>
${comparisonTable(report)}
${drain ? `<p>${e(drain)}</p>` : ''}
${crowdWarnings(report)
  .map((w) => `<p class="bad">${e(w)}</p>`)
  .join('\n')}
${sellOuts.length > 0 ? `<h2>The sell-out, close up</h2>${chartsOf(['sell-out-answers', 'sell-out-stock'])}` : ''}
<h2>The whole run</h2>
${chartsOf(['answers', 'latency', 'stock', 'latency-distribution'])}
<p class="note">Hover a chart for the values at that moment; drag to zoom in, double-click to zoom out; click a legend entry to hide its line.</p>
<h2>Invariants</h2>
${report.runs.map(invariantList).join('\n')}
${thresholdSection(report)}
<h2>Parameters</h2>
${parameterList(report)}`;
  return htmlPage(`seckill bench: ${report.scenario}`, body, charts);
};
