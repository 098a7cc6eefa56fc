import type { BenchReport } from './report.js';
import { reportTable } from './report.js';
import type { StrategyRun } from './strategy-run.js';

interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563', '#65a30d', '#9333ea'];

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const niceMax = (v: number) => {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v)!;
};

/** A line chart as inline SVG: no script, no network, opens anywhere. */
const lineChart = (title: string, unit: string, series: Series[], width = 560, height = 220): string => {
  const pad = { left: 56, right: 12, top: 24, bottom: 28 };
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const ys = series.flatMap((s) => s.points.map(([, y]) => y));
  const xMax = Math.max(1, ...xs);
  const yMax = niceMax(Math.max(0, ...ys));
  const x = (v: number) => pad.left + (v / xMax) * (width - pad.left - pad.right);
  const y = (v: number) => height - pad.bottom - (v / yMax) * (height - pad.top - pad.bottom);
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(f * yMax)}" y2="${y(f * yMax)}" stroke="#e5e7eb"/><text x="${pad.left - 6}" y="${y(f * yMax) + 4}" text-anchor="end">${(f * yMax).toLocaleString('en')}</text>`)
    .join('');
  const xTicks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<text x="${x(f * xMax)}" y="${height - pad.bottom + 12}" text-anchor="middle">${(f * xMax).toFixed(xMax < 10 ? 1 : 0)}</text>`)
    .join('');
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="1.8" points="${s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`)
    .join('');
  const legend = series.map((s, i) => `<text x="${pad.left + 8 + i * 110}" y="14" fill="${s.color}">■ ${escape(s.name)}</text>`).join('');
  return `<figure><figcaption>${escape(title)}</figcaption><svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-size="11" font-family="sans-serif">
${grid}${xTicks}${lines}${legend}
<text x="${width - pad.right}" y="${height - 2}" text-anchor="end">seconds since the load started</text><text x="4" y="${pad.top - 8}">${escape(unit)}</text></svg></figure>`;
};

const runCharts = (run: StrategyRun): string => {
  const outcomes = [...new Set(run.timeline.flatMap((p) => Object.keys(p.outcomes)))];
  const byOutcome = outcomes.map((name, i) => ({ name, color: COLORS[i % COLORS.length]!, points: run.timeline.map((p) => [p.second + 0.5, p.outcomes[name] ?? 0] as [number, number]) }));
  const latency = [
    { name: 'p50', color: COLORS[0]!, points: run.timeline.map((p) => [p.second + 0.5, p.p50Ms] as [number, number]) },
    { name: 'p99', color: COLORS[1]!, points: run.timeline.map((p) => [p.second + 0.5, p.p99Ms] as [number, number]) },
  ];
  const stock: Series[] = [{ name: 'MySQL stock', color: COLORS[2]!, points: run.stockTimeline.map((p) => [p.second, p.mysql]) }];
  if (run.stockTimeline.some((p) => p.redis !== null)) stock.unshift({ name: 'Redis stock', color: COLORS[0]!, points: run.stockTimeline.map((p) => [p.second, p.redis ?? 0]) });
  const broken = run.invariants.filter((i) => !i.ok);
  return `<section><h2>${escape(run.strategy)}</h2>
<p>${run.invariants.length === 0 ? 'no invariants: the ceiling stores nothing' : broken.length === 0 ? `<span class="ok">all ${run.invariants.length} invariants hold</span>` : `<span class="bad">broken: ${broken.map((i) => `${escape(i.name)} (${escape(i.detail)})`).join('; ')}</span>`}</p>
<div class="charts">${lineChart('answers per second, by outcome', 'answers/s', byOutcome)}${lineChart('latency per second', 'ms', latency)}${lineChart('stock over time: the sell-out, then the drain into MySQL', 'units', stock)}</div></section>`;
};

/** One self-contained page: the table, and per strategy its charts over time. */
export const reportHtml = (report: BenchReport): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seckill bench: ${escape(report.scenario)}</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#111}pre{background:#f3f4f6;padding:12px;overflow:auto;font-size:12px}
figure{display:inline-block;margin:8px}figcaption{font-size:13px;color:#374151}.ok{color:#15803d}.bad{color:#b91c1c;font-weight:bold}section{border-top:1px solid #e5e7eb;margin-top:16px}</style></head>
<body><h1>seckill bench: ${escape(report.scenario)}</h1>
<p>${escape(report.description)}</p>
<p>${report.ok ? '<span class="ok">Every invariant holds for every strategy.</span>' : '<span class="bad">Invariants broken.</span>'} Measured ${escape(report.date)}; figures are from one run on one machine: compare the columns, not the machines.</p>
<pre>${escape(reportTable(report))}</pre>
${report.runs.map(runCharts).join('\n')}
</body></html>`;
