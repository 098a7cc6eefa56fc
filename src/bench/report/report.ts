import Table from 'cli-table3';
import type { DrainRate } from '../load/drain-rate.js';
import type { ArrivalModel } from '../load/arrivals.js';
import type { RunEnvironment } from './environment.js';
import type { Fault } from '../faults/kinds.js';
import type { Scenario } from '../scenario.js';
import type { StrategyRun } from './figures.js';
import type { ThresholdResult } from '../judge/thresholds.js';
import type { StrategyName } from '../../gateway/strategies/strategy.js';
import { busiestMaster } from '../../redis/command-stats.js';
import { COST_KINDS } from './process-cost.js';

/** How the run was asked for: what someone needs to run it again. */
export interface RunParameters {
  strategies: StrategyName[];
  seed: number;
  /** the scenario's load with the command line's overrides */
  load: Scenario['load'];
  buyers: number;
  skus: { sku: string; stock: number; limit: number }[];
  workers: number;
  consumers: number;
  /** how the crowd arrived, one run per model (closed, constant, ramp, spike) */
  arrivals: ArrivalModel[];
  /** serve --replica-acks of the seckill runs, one run per value */
  replicaAcks: number[];
  /** which Redis: REDIS_URL (without its password), or the one bench started for the run */
  redis: string;
}

export interface BenchReport {
  scenario: string;
  description: string;
  date: string;
  queue: string;
  /** whether relay and consumer ran during the load or after it */
  pipeline: string;
  /** whether the seckill server grouped a SKU's requests into one reserve.lua call (false: --no-group-commit) */
  groupCommit: boolean;
  /** every invariant holds (thresholds aside: see `thresholds`) */
  ok: boolean;
  /** every invariant of every run, named `strategy: invariant` */
  invariants: { name: string; ok: boolean; detail: string }[];
  /** every threshold (the scenario's and --threshold's) on every run of its strategy */
  thresholds: ThresholdResult[];
  runs: StrategyRun[];
  /** with --drain-rate: the pipeline's write rate into MySQL next to the raw ceiling */
  drainRate: DrainRate | null;
  parameters: RunParameters;
  environment: RunEnvironment;
}

const ms = (v: number | null) => (v === null ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(0));
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');
const micros = (v: number | undefined) => (v === undefined ? '–' : v < 10 ? v.toFixed(1) : v.toFixed(0));

/** What `seckill bench --json` prints: the report, its runs without their timelines (the HTML report draws those). */
export type BenchReportJson = Omit<BenchReport, 'runs'> & { runs: Omit<StrategyRun, 'timeline' | 'stockTimeline' | 'invariants'>[] };

/** The JSON for machines: one object (BenchReportJson). */
export const reportJson = (report: BenchReport): string =>
  JSON.stringify({
    ...report,
    runs: report.runs.map(({ timeline: _t, stockTimeline: _s, invariants: _i, ...run }) => run),
  } satisfies BenchReportJson);

/** Outcome codes in a fixed, readable order; anything unexpected goes last. */
const OUTCOME_ORDER = [
  'OK',
  'SOLD_OUT',
  'LIMIT',
  'DUPLICATE',
  'ADMISSION_CLOSED',
  'RATE_LIMITED',
  'UNKNOWN_SKU',
  'BAD_REQUEST',
  'ENDED',
  'NOT_STARTED',
  'BAD_TOKEN',
  'UNAUTHORIZED',
  'WRONG_USER',
];
const outcomeRank = (outcome: string) => OUTCOME_ORDER.indexOf(outcome) + 1 || OUTCOME_ORDER.length + 1;
/** Sorts outcome codes in that order. */
export const byOutcomeOrder = (a: string, b: string): number => outcomeRank(a) - outcomeRank(b);
const outcomeText = (outcomes: Record<string, number>) =>
  Object.entries(outcomes)
    .sort(([a], [b]) => byOutcomeOrder(a, b))
    .map(([k, v]) => `${k} ${v.toLocaleString('en')}`)
    .join('\n');

/** One row of the comparison: a label and a cell per run (a cell may hold several lines). */
export interface ComparisonRow {
  label: string;
  /** a detail of the row above it (drawn indented) */
  sub: boolean;
  cells: string[];
}

/**
 * The comparison a person reads, the terminal's table and the HTML table
 * both: one column per run (a strategy, and with `--auth none,jwt` each
 * strategy with and without sign-in), ratios to the ceiling and to seckill
 * (each of the same --auth, so a ratio compares one thing), and to the same
 * strategy without sign-in (what verifying costs).
 */
export const comparisonRows = (report: BenchReport): ComparisonRow[] => {
  const runs = report.runs;
  /** The run of `strategy` most like `like`: the same sign-in and the same crowd, else the same sign-in, else any. */
  const find = (strategy: string, like: StrategyRun) =>
    runs.find((r) => r.strategy === strategy && r.auth === like.auth && r.arrival === like.arrival) ??
    runs.find((r) => r.strategy === strategy && r.auth === like.auth) ??
    runs.find((r) => r.strategy === strategy);
  const rows: ComparisonRow[] = [];
  const row = (label: string, cell: (r: StrategyRun) => string, sub = false) => rows.push({ label, sub, cells: runs.map(cell) });
  const ceilingOf = (r: StrategyRun) => find('ceiling', r);
  const hasCeiling = runs.some((r) => r.strategy === 'ceiling');
  const open = runs.some((r) => r.arrival !== 'closed');
  if (open) {
    row('crowd', (r) => r.crowd.arrival);
    row('intended / sent / dropped', (r) =>
      r.arrival === 'closed'
        ? `– / ${r.crowd.sent.toLocaleString('en')} / 0`
        : [r.crowd.intended, r.crowd.sent, r.crowd.dropped].map((n) => n.toLocaleString('en')).join(' / '),
    );
    row(
      'generator behind schedule p99 / max ms',
      (r) => (r.crowd.behindScheduleMs === null ? '–' : `${ms(r.crowd.behindScheduleMs.p99)} / ${ms(r.crowd.behindScheduleMs.max)}`),
      true,
    );
  }
  row('requests/s', (r) => Math.round(r.rps).toLocaleString('en'));
  const bothAuth = runs.some((r) => r.auth === 'jwt' && runs.some((o) => o.strategy === r.strategy && o.auth === 'none'));
  if (bothAuth) {
    row('÷ without sign-in', (r) => {
      const without = runs.find((o) => o.strategy === r.strategy && o.auth === 'none' && o.arrival === r.arrival);
      return r.auth === 'jwt' && without ? ratio(r.rps, without.rps) : '–';
    });
  }
  const withoutAcks = (r: StrategyRun) => runs.find((o) => o.strategy === r.strategy && o.auth === r.auth && o.arrival === r.arrival && o.replicaAcks === 0);
  if (runs.some((r) => r.replicaAcks > 0 && withoutAcks(r))) {
    row('÷ without replica acks', (r) => {
      const without = withoutAcks(r);
      return r.replicaAcks > 0 && without ? ratio(r.rps, without.rps) : '–';
    });
  }
  if (hasCeiling) row('÷ ceiling', (r) => ratio(r.rps, ceilingOf(r)!.rps));
  if (runs.some((r) => r.strategy === 'seckill')) row('seckill ÷ this', (r) => ratio(find('seckill', r)!.rps, r.rps));
  row('answers/s after sell-out', (r) => (r.afterSellOutRps === null ? '–' : Math.round(r.afterSellOutRps).toLocaleString('en')));
  if (hasCeiling) row('÷ ceiling requests/s', (r) => (r.afterSellOutRps === null ? '–' : ratio(r.afterSellOutRps, ceilingOf(r)!.rps)), true);
  const from = open ? ' from intended send' : '';
  row(`p50 / p90 ms${from}`, (r) => `${ms(r.p50Ms)} / ${ms(r.p90Ms)}`);
  row(`p99 / max ms${from}`, (r) => `${ms(r.p99Ms)} / ${ms(r.maxMs)}`);
  if (open) row('p99 / max ms from actual send', (r) => `${ms(r.crowd.latencyFromSendMs.p99)} / ${ms(r.crowd.latencyFromSendMs.max)}`, true);
  if (hasCeiling) row('p99 ÷ ceiling p99', (r) => ratio(r.p99Ms, ceilingOf(r)!.p99Ms));
  if (runs.some((r) => r.redisCost !== null)) {
    const cost = (cell: (c: NonNullable<StrategyRun['redisCost']>, r: StrategyRun) => string) => (r: StrategyRun) =>
      r.redisCost === null ? '–' : cell(r.redisCost, r);
    row(
      'Redis script µs per 201',
      cost((c, r) => ((r.outcomes.OK ?? 0) > 0 ? (c.scripts.usec / r.outcomes.OK).toFixed(1) : '–')),
    );
    row(
      '… on the busiest master',
      cost((c, r) => ((r.outcomes.OK ?? 0) > 0 ? (busiestMaster(c.scripts).usec / r.outcomes.OK).toFixed(1) : '–')),
    );
    row(
      'requests per reserve.lua call',
      cost((c) => (c.reserveCalls > 0 ? (c.reserveRequests / c.reserveCalls).toFixed(1) : '–')),
    );
  }
  if (runs.some((r) => r.processCost !== null)) {
    row('CPU µs per answer', () => '', false);
    for (const kind of COST_KINDS) {
      if (!runs.some((r) => r.processCost?.cpuMicrosPerAnswer[kind] !== undefined)) continue;
      row(kind, (r) => micros(r.processCost?.cpuMicrosPerAnswer[kind]), true);
    }
  }
  row('requests (errors)', (r) => `${r.requests.toLocaleString('en')} (${r.errors})`);
  // An open crowd's dropped requests beside its answers: asked for, never sent, so never answered.
  row('answers', (r) => outcomeText(r.outcomes) + (r.arrival === 'closed' ? '' : `\nnever sent (dropped) ${r.crowd.dropped.toLocaleString('en')}`));
  if (runs.some((r) => r.beforeOpening !== null)) {
    row('sent before the opening', (r) => (r.beforeOpening === null ? '–' : outcomeText(r.beforeOpening) || 'none'), true);
    row(
      '429 before / after the opening',
      (r) => {
        if (r.beforeOpening === null) return '–';
        const refused = (o: Record<string, number>) => (o.ADMISSION_CLOSED ?? 0) + (o.RATE_LIMITED ?? 0);
        return `${refused(r.beforeOpening)} / ${refused(r.outcomes) - refused(r.beforeOpening)}`;
      },
      true,
    );
  }
  if (runs.some((r) => r.lostReplies !== null)) {
    row('lost replies: retry told the order', (r) =>
      r.lostReplies === null ? '–' : `${r.lostReplies.toldOrderId} of ${r.lostReplies.heldOrder} that held one\n(${r.lostReplies.sent} replies lost)`,
    );
  }
  row('units sold', (r) => r.sold.toLocaleString('en'));
  row('stock left (MySQL)', (r) => r.stock.toLocaleString('en'));
  row('sold out after', (r) => (r.sellOutMs === null ? '–' : `${ms(r.sellOutMs)} ms`));
  row('last order in MySQL', (r) => `${ms(r.drainMs)} ms after the last 201`);
  row('drift', (r) => (r.drift === null ? '–' : String(r.drift)));
  if (runs.some((r) => Object.keys(r.faults).length > 0)) {
    row(
      'faults injected',
      (r) =>
        Object.entries(r.faults)
          .map(([kind, n]) => `${kind} ×${n}`)
          .join('\n') || '–',
    );
  }
  if (runs.some((r) => r.afterFaults)) {
    row('429 after the last fault', (r) => {
      if (!r.afterFaults) return '–';
      const { fromMs, outcomes } = r.afterFaults;
      const answers = Object.values(outcomes).reduce((a, b) => a + b, 0);
      return `${outcomes.ADMISSION_CLOSED ?? 0} ADMISSION_CLOSED\n(${answers.toLocaleString('en')} answers from ${(fromMs / 1000).toFixed(1)} s, ${outcomes.OK ?? 0} sold)`;
    });
  }
  row('invariants', (r) => {
    if (r.invariants.length === 0) return 'n/a (stores nothing)';
    const broken = r.invariants.filter((i) => !i.ok);
    return broken.length === 0 ? `all ${r.invariants.length} hold` : `BROKEN: ${broken.map((i) => i.name).join(', ')}`;
  });
  if (report.thresholds.length > 0) {
    row('thresholds', (r) => {
      const own = report.thresholds.filter((t) => t.run === r.label);
      if (own.length === 0) return '–';
      const broken = own.filter((t) => !t.ok);
      return broken.length === 0 ? `all ${own.length} hold` : `BROKEN: ${broken.map((t) => t.expr).join(', ')}`;
    });
  }
  return rows;
};

/** One threshold judged on one run, as every report says it: `seckill: p99<150ms (p99 4.210 ms)`. */
export const thresholdText = (t: ThresholdResult): string => `${t.run}: ${t.expr} (${t.detail})`;

/** Whether every threshold held (none given: true). */
export const thresholdsHold = (report: Pick<BenchReport, 'thresholds'>): boolean => report.thresholds.every((t) => t.ok);

/** The run in one line: scenario, date, queue and when the pipeline ran. */
export const runLine = (report: BenchReport): string =>
  `${report.date}, queue ${report.queue}, relay and consumer ${report.pipeline === 'after' ? 'started after the load' : 'running during the load'}${report.groupCommit ? '' : ', seckill without group commit (one reserve.lua call per request)'}`;

/** --drain-rate's figures in one sentence; null when it was not asked for. */
export const drainRateLine = (report: BenchReport): string | null => {
  const d = report.drainRate;
  return d
    ? `drain rate (${d.orders.toLocaleString('en')} orders, batches of ${d.batchSize}): pipeline ${Math.round(d.pipelineRate).toLocaleString('en')} orders/s, raw INSERT+UPDATE loop ${Math.round(d.ceilingRate).toLocaleString('en')} orders/s, ratio ${d.ratio.toFixed(2)}`
    : null;
};

/** Each run whose load generator could not keep its schedule, said: its figures are the generator's as much as the server's. */
export const crowdWarnings = (report: BenchReport): string[] =>
  report.runs.flatMap((r) => (r.crowd.warning === null ? [] : [`warning: ${r.label}: ${r.crowd.warning}`]));

/** The table a person reads in the terminal. */
export const reportTable = (report: BenchReport): string => {
  const table = new Table({ head: ['', ...report.runs.map((r) => r.label)], style: { head: [], border: [] } });
  for (const row of comparisonRows(report)) table.push([`${row.sub ? '  ' : ''}${row.label}`, ...row.cells]);
  const broken = report.invariants.filter((i) => !i.ok).map((i) => `  ✗ ${i.name}: ${i.detail}`);
  const drain = drainRateLine(report);
  return [
    `${report.scenario} — ${report.description}`,
    runLine(report),
    table.toString(),
    ...(drain ? [drain] : []),
    ...crowdWarnings(report),
    report.ok ? 'every invariant holds for every run' : ['INVARIANTS BROKEN:', ...broken].join('\n'),
    ...(report.thresholds.length === 0
      ? []
      : [
          thresholdsHold(report) ? 'every threshold holds:' : 'THRESHOLDS BROKEN:',
          ...report.thresholds.map((t) => `  ${t.ok ? '✓' : '✗'} ${thresholdText(t)}`),
        ]),
  ].join('\n');
};

export interface CampaignSeed {
  seed: number;
  ok: boolean;
  /** faults injected, by kind */
  faults: Record<string, number>;
  /** the faults the seed drew (and the scenario wrote), in firing order: what `--seed` replays */
  drawn: Fault[];
  sold: number;
  drift: number | null;
  /** how long the seed's run took, ms */
  tookMs: number;
}

export interface CampaignSummary {
  scenario: string;
  date: string;
  runs: number;
  /** faults injected over the whole campaign, by kind */
  faults: Record<string, number>;
  /** every invariant break, with the seed that reproduces it; `recovered` for a run that could not */
  breaks: { seed: number; invariant: string; detail: string }[];
  seeds: CampaignSeed[];
  /** what the campaign ran on (read by its first run that started); null when none did */
  environment: RunEnvironment | null;
}

/** A chaos campaign for a person: one line per seed, faults by kind, every break with its seed. */
export const campaignText = (c: CampaignSummary): string => {
  const kinds = (faults: Record<string, number>, sep: string) => Object.entries(faults).map(([k, n]) => `${k}${sep}${n}`);
  return [
    `chaos campaign: ${c.scenario}, ${c.runs} run(s), seeds ${c.seeds.map((r) => r.seed).join(', ')}`,
    ...c.seeds.map(
      (r) => `  seed ${r.seed}: ${r.ok ? 'ok' : 'BROKEN'}; faults ${kinds(r.faults, '×').join(' ') || 'none'}; sold ${r.sold}; drift ${r.drift ?? '–'}`,
    ),
    `faults injected: ${kinds(c.faults, ' ').join(', ') || 'none'}`,
    `invariant breaks: ${c.breaks.length}`,
    ...c.breaks.map((b) => `  ✗ seed ${b.seed} ${b.invariant}: ${b.detail}`),
  ].join('\n');
};
