import { STRATEGY_NAMES } from '../../../gateway/strategies/strategy.js';
import { TIME_SLOT_MS } from '../../load/load-plan.js';
import { byOutcomeOrder } from '../report.js';
import type { StrategyRun } from '../figures.js';

/**
 * The report's charts as data: what each figure plots, for every strategy on
 * one chart. assets/charts.js draws them with uPlot in the page; nothing here
 * knows how.
 */
export interface ChartSeries {
  label: string;
  color: string;
  /** a canvas line dash (null: solid) */
  dash: number[] | null;
  width: number;
  /** draw over the gaps between points (samples taken at other moments than the other strategies') */
  spanGaps: boolean;
  /** [x, y]; a null y is a gap (no answer in that time slot) */
  points: [number, number | null][];
}

export interface ChartSpec {
  id: string;
  title: string;
  /** what to look for in it */
  caption: string;
  /** seconds since the load started, or the percentile axis of a latency distribution (x = −log10(1 − p/100)) */
  x: 'seconds' | 'percentile';
  /** initial x range; null: all the data */
  xRange: [number, number] | null;
  y: { label: string; log: boolean };
  series: ChartSeries[];
  /** vertical lines: the moment a strategy sold out */
  markers: { x: number; label: string }[];
}

/** One colour per strategy, the same on every chart and page. */
const STRATEGY_COLORS: Record<(typeof STRATEGY_NAMES)[number], string> = {
  seckill: '#2563eb',
  'mysql-update': '#dc2626',
  'mysql-for-update': '#d97706',
  ceiling: '#059669',
};

/** Line styles for a strategy's several series: the first solid, then ever sparser dashes. */
const DASHES: (number[] | null)[] = [null, [8, 4], [2, 3], [1, 5], [10, 3, 2, 3], [6, 2, 2, 2, 2, 2]];
const dashOf = (i: number) => DASHES[i % DASHES.length]!;

const seconds = (ms: number) => ms / 1000;

/** How much of a time slot the load lasted: the last one is cut short when the load ends, and its rate must not look like a drop. */
const slotSpanMs = (run: StrategyRun, atMs: number) => Math.max(1, Math.min(TIME_SLOT_MS, run.durationMs - atMs));

const answersSeries = (run: StrategyRun): ChartSeries[] => {
  const outcomes = [...new Set(run.timeline.flatMap((p) => Object.keys(p.outcomes)))].sort(byOutcomeOrder);
  return outcomes.map((outcome, i) => ({
    label: `${run.strategy} ${outcome}`,
    color: STRATEGY_COLORS[run.strategy],
    dash: dashOf(i),
    width: i === 0 ? 2.5 : 1.5,
    spanGaps: false,
    points: run.timeline.map((p) => {
      const span = slotSpanMs(run, p.atMs);
      return [seconds(p.atMs + span / 2), ((p.outcomes[outcome] ?? 0) * 1000) / span];
    }),
  }));
};

const latencySeries = (run: StrategyRun): ChartSeries[] =>
  (['p50Ms', 'p99Ms'] as const).map((key, i) => ({
    label: `${run.strategy} ${key.slice(0, 3)}`,
    color: STRATEGY_COLORS[run.strategy],
    dash: dashOf(i),
    width: i === 0 ? 2 : 1.5,
    spanGaps: false,
    points: run.timeline.map((p) => [seconds(p.atMs + slotSpanMs(run, p.atMs) / 2), p[key]]),
  }));

const stockSeries = (run: StrategyRun): ChartSeries[] => {
  const stores = run.stockTimeline.some((p) => p.redis !== null) ? (['redis', 'mysql'] as const) : (['mysql'] as const);
  return stores.map((store, i) => ({
    label: `${run.strategy} ${store === 'redis' ? 'Redis' : 'MySQL'}`,
    color: STRATEGY_COLORS[run.strategy],
    dash: dashOf(i + (stores.length === 1 ? 1 : 0)),
    width: 2,
    spanGaps: true,
    points: run.stockTimeline.map((p) => [seconds(p.atMs), p[store]]),
  }));
};

/** Percentile p (0–100) on an axis where 90, 99, 99.9 … are evenly spaced: the tail gets the room. */
const percentileX = (p: number): number => -Math.log10(1 - p / 100);

const distributionSeries = (run: StrategyRun): ChartSeries => ({
  label: run.strategy,
  color: STRATEGY_COLORS[run.strategy],
  dash: null,
  width: 2,
  spanGaps: true,
  // The 100th percentile (the maximum) is at infinity on this axis: the table has it.
  points: run.latencyPercentiles.filter((p) => p.percentile < 100).map((p) => [percentileX(p.percentile), p.ms]),
});

const sellOutMarkers = (runs: StrategyRun[]) =>
  runs.flatMap((r) => (r.sellOutMs === null ? [] : [{ x: seconds(r.sellOutMs), label: `${r.strategy} sold out (${Math.round(r.sellOutMs)} ms)` }]));

/** After the last strategy's sell-out, this much more is shown close up: the refusals' rate settles within it. */
const CLOSE_UP_AFTER_MS = 1_000;

/** Every chart of a run's page, each with every strategy on it. */
export const runCharts = (runs: StrategyRun[]): ChartSpec[] => {
  const markers = sellOutMarkers(runs);
  const lastSellOut = Math.max(...runs.map((r) => r.sellOutMs ?? -Infinity));
  const longest = Math.max(...runs.map((r) => r.durationMs));
  const closeUp: [number, number] | null = Number.isFinite(lastSellOut) ? [0, seconds(Math.min(longest, lastSellOut + CLOSE_UP_AFTER_MS))] : null;
  const answers = runs.flatMap(answersSeries);
  const stock = runs.flatMap(stockSeries);
  const answersChart = { x: 'seconds', y: { label: 'answers/s', log: false }, series: answers, markers } as const;
  const stockChart = { x: 'seconds', y: { label: 'units on sale', log: false }, series: stock, markers } as const;
  const perSlot = `every ${TIME_SLOT_MS} ms`;
  return [
    ...(closeUp
      ? [
          {
            ...answersChart,
            id: 'sell-out-answers',
            title: `The sell-out, close up: answers per second by outcome, ${perSlot}`,
            caption:
              'OK answers stop at the sell-out; what each strategy answers after it (SOLD_OUT, LIMIT, DUPLICATE) and how fast is the difference between them.',
            xRange: closeUp,
          },
          {
            ...stockChart,
            id: 'sell-out-stock',
            title: 'The sell-out, close up: stock in Redis and MySQL',
            caption:
              'Redis stock reaches 0 at the sell-out; MySQL stock follows as the consumer writes the orders (the baselines write MySQL before they answer).',
            xRange: closeUp,
          },
        ]
      : []),
    {
      ...answersChart,
      id: 'answers',
      title: `Answers per second by outcome, ${perSlot}, the whole run`,
      caption: 'Each strategy in its colour; OK solid, the other outcomes dashed. Click a legend entry to hide it.',
      xRange: null,
    },
    {
      id: 'latency',
      title: `Latency p50 and p99, ${perSlot} (log scale)`,
      caption: 'p50 solid, p99 dashed; a gap is a time slot with no answer.',
      x: 'seconds',
      xRange: null,
      y: { label: 'ms', log: true },
      series: runs.flatMap(latencySeries),
      markers,
    },
    {
      ...stockChart,
      id: 'stock',
      title: 'Stock in Redis and MySQL, the whole run',
      caption: `Redis solid, MySQL dashed; both read ${perSlot}.`,
      xRange: null,
    },
    {
      id: 'latency-distribution',
      title: 'Latency distribution: every answer of the run (log scale)',
      caption: 'The share of answers at or under a latency; 90 %, 99 %, 99.9 % … evenly spaced, so the tail is visible. The maximum is in the table.',
      x: 'percentile',
      xRange: null,
      y: { label: 'ms', log: true },
      series: runs.map(distributionSeries),
      markers: [],
    },
  ];
};
