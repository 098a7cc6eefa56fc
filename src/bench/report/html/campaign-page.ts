import type { CampaignSeed, CampaignSummary } from '../report.js';
import { escapeHtml as e, htmlPage } from './page.js';

const kinds = (faults: Record<string, number>) =>
  Object.entries(faults)
    .map(([kind, n]) => `${kind} ×${n}`)
    .join('\n') || 'none';
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

const seedRow = (row: CampaignSeed, breaks: CampaignSummary['breaks']) => {
  const drawn = row.drawn.map((f) => `${f.kind} at ${seconds(f.atMs)} for ${seconds(f.forMs)}`).join('\n') || 'none';
  const broken = breaks
    .filter((b) => b.seed === row.seed)
    .map((b) => `${b.invariant}: ${b.detail}`)
    .join('\n');
  const cells = [kinds(row.faults), drawn, row.sold.toLocaleString('en'), row.drift === null ? '–' : String(row.drift), broken || 'none', seconds(row.tookMs)];
  return `<tr class="${row.ok ? 'ok' : 'bad'}"><th>${row.seed}</th><td>${row.ok ? '✓ ok' : '✗ BROKEN'}</td>${cells.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`;
};

/** A chaos campaign on one page: a row per seed with the faults it drew and injected, and every break with the seed that replays it. */
export const campaignHtml = (c: CampaignSummary): string => {
  const head = ['seed', 'verdict', 'faults injected', 'faults drawn (replay with --seed)', 'units sold', 'drift', 'invariant breaks', 'run time'];
  const env = c.environment;
  const body = `<h1>seckill chaos campaign: ${e(c.scenario)}</h1>
<p>${c.breaks.length === 0 ? `<span class="ok">No invariant broke in ${c.runs} run(s).</span>` : `<span class="bad">${c.breaks.length} invariant break(s) in ${c.runs} run(s).</span>`} Started ${e(c.date)}. Replay a seed with <code>seckill bench ${e(c.scenario)} --seed N</code>.</p>
<p>Faults injected over the campaign: ${e(kinds(c.faults).replace(/\n/g, ', '))}.</p>
<table class="campaign"><thead><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead>
<tbody>${c.seeds.map((row) => seedRow(row, c.breaks)).join('')}</tbody></table>
${env ? `<p class="note">${e(`${env.machine.cores} cores (${env.machine.cpu}), ${env.machine.os}; seckill ${env.versions.seckill}, Node ${env.versions.node}, Redis ${env.versions.redis}, MySQL ${env.versions.mysql}${env.versions.kafka === null ? '' : `, Kafka ${env.versions.kafka}`}`)}</p>` : ''}`;
  return htmlPage(`seckill chaos campaign: ${c.scenario}`, body);
};
