/**
 * Thresholds: a run's figures held to limits a CI sets (`p99<150ms`,
 * `ceiling>=0.7`, `errors==0`), as k6's thresholds do. An invariant says the
 * sale was right; a threshold says it was fast enough. Parsed strictly at the
 * edge (the flag, the scenario file), judged once the runs are over; the
 * metrics they name are in threshold-metrics.ts.
 */
import { STRATEGY_NAMES, type StrategyName } from '../../gateway/strategies/strategy.js';
import type { StrategyRun } from '../report/figures.js';
import { METRIC_NAMES, THRESHOLD_METRICS, type MetricKind } from './threshold-metrics.js';

export const THRESHOLD_OPERATORS = ['<', '<=', '>', '>=', '==', '!='] as const;
export type ThresholdOperator = (typeof THRESHOLD_OPERATORS)[number];

export interface Threshold {
  /** as it was written, trimmed: how reports and the JUnit file name it */
  expr: string;
  /** the strategy whose runs it holds to; null: seckill, the product (written without a `strategy:` prefix) */
  strategy: StrategyName | null;
  metric: string;
  op: ThresholdOperator;
  /** the limit, in the metric's unit (ms for a duration) */
  limit: number;
}

/** A threshold judged on one run. */
export interface ThresholdResult {
  expr: string;
  /** the run's label (`seckill`, `seckill+jwt`, …): a threshold on a strategy run twice is judged on each */
  run: string;
  metric: string;
  /** what the run measured (ms for a duration); null when it measured nothing to judge */
  value: number | null;
  ok: boolean;
  /** the value as a person reads it: `p99 4.21 ms` */
  detail: string;
}

export class ThresholdError extends Error {
  readonly code = 'THRESHOLD';
}

/** The strategy a threshold written without a prefix holds to. */
export const DEFAULT_THRESHOLD_STRATEGY: StrategyName = 'seckill';

const EXAMPLES = 'e.g. p99<150ms, ceiling>=0.7, mysql-update:errors==0';
const metricsList = () => `metrics: ${METRIC_NAMES.join(', ')}`;

// [strategy:] metric operator number [unit]; the longer operators first, so `<=` is not read as `<` then `=…`.
// Spaces only around the operator and before the unit: `p99 < 150 ms` reads as meant, `p 99` is refused.
const THRESHOLD_PATTERN = /^(?:([a-z][a-z-]*):)?([A-Za-z0-9_.]+)\s*(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)?)\s*([a-z]*)$/;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000 };

/** The limit in the metric's unit; the unit a kind takes, and no other. */
const limitOf = (fail: (problem: string) => never, metric: string, kind: MetricKind, number: string, unit: string): number => {
  if (kind === 'duration') {
    if (!(unit in UNIT_MS)) fail(`${metric} is a latency: give its unit, ms or s (e.g. ${metric}<150ms), got ${JSON.stringify(unit || number)}`);
    // 1.1s is 1100 ms, not 1100.0000000000002.
    return Math.round(Number(number) * UNIT_MS[unit] * 1e9) / 1e9;
  }
  if (unit !== '') fail(`${metric} is a ${kind === 'rate' ? 'rate (requests/s)' : kind}: a plain number, no unit (got "${unit}")`);
  return Number(number);
};

/** One threshold as written (`p99<150ms`, `seckill:ceiling>=0.7`); a ThresholdError names what is wrong and the metrics there are. */
export const parseThreshold = (raw: string): Threshold => {
  const expr = raw.trim();
  const fail = (problem: string): never => {
    throw new ThresholdError(`threshold ${JSON.stringify(raw)}: ${problem}`);
  };
  const match = THRESHOLD_PATTERN.exec(expr);
  if (!match) return fail(`is not [strategy:]metric<op>value (${EXAMPLES}; operators ${THRESHOLD_OPERATORS.join(' ')}; ${metricsList()})`);
  const [, strategy, metric, op, number, unit] = match;
  if (strategy !== undefined && !(STRATEGY_NAMES as readonly string[]).includes(strategy))
    fail(`unknown strategy ${JSON.stringify(strategy)} (strategies: ${STRATEGY_NAMES.join(', ')})`);
  const definition = Object.hasOwn(THRESHOLD_METRICS, metric) ? THRESHOLD_METRICS[metric] : undefined;
  if (definition === undefined) return fail(`unknown metric ${JSON.stringify(metric)} (${metricsList()})`);
  return {
    expr,
    strategy: (strategy as StrategyName | undefined) ?? null,
    metric,
    op: op as ThresholdOperator,
    limit: limitOf(fail, metric, definition.kind, number, unit),
  };
};

/** The strategy whose runs a threshold holds to. */
export const strategyOf = (threshold: Threshold): StrategyName => threshold.strategy ?? DEFAULT_THRESHOLD_STRATEGY;

/**
 * Refuses, before anything runs, a threshold the run could not judge: one
 * on a strategy it does not include, or on a metric that needs a run it
 * does not include (the ceiling ratio without the ceiling).
 */
export const checkThresholdsFit = (thresholds: readonly Threshold[], strategies: readonly StrategyName[]): void => {
  for (const t of thresholds) {
    const strategy = strategyOf(t);
    if (!strategies.includes(strategy)) {
      throw new ThresholdError(
        t.strategy === null
          ? `threshold ${JSON.stringify(t.expr)} holds seckill to it, and this run has no seckill (strategies: ${strategies.join(', ')}): name the strategy, e.g. ${strategies[0]}:${t.expr}`
          : `threshold ${JSON.stringify(t.expr)}: ${strategy} is not in this run (strategies: ${strategies.join(', ')})`,
      );
    }
    const needs = THRESHOLD_METRICS[t.metric].needs;
    if (needs !== undefined && !strategies.includes(needs))
      throw new ThresholdError(
        `threshold ${JSON.stringify(t.expr)}: ${t.metric} needs a ${needs} run to divide by: add it to --compare (e.g. --compare seckill,${needs})`,
      );
  }
};

const holds = (value: number, op: ThresholdOperator, limit: number): boolean => {
  switch (op) {
    case '<':
      return value < limit;
    case '<=':
      return value <= limit;
    case '>':
      return value > limit;
    case '>=':
      return value >= limit;
    case '==':
      return value === limit;
    case '!=':
      return value !== limit;
  }
};

/** A metric's value as a person reads it. */
export const formatMetric = (metric: string, value: number | null): string => {
  if (value === null) return `${metric} not measured in this run`;
  switch (THRESHOLD_METRICS[metric].kind) {
    case 'duration':
      return `${metric} ${value < 10 ? value.toFixed(3) : value.toFixed(1)} ms`;
    case 'ratio':
      return `${metric} ${value.toFixed(3)}×`;
    case 'rate':
      return `${metric} ${value.toFixed(1)}/s`;
    case 'count':
      return `${metric} ${value}`;
  }
};

/**
 * Every threshold on every run of its strategy, in the order written. A
 * value the run did not measure breaks its threshold: a limit nobody checked
 * is not a limit held.
 */
export const judgeThresholds = (thresholds: readonly Threshold[], runs: readonly StrategyRun[]): ThresholdResult[] =>
  thresholds.flatMap((t) =>
    runs
      .filter((run) => run.strategy === strategyOf(t))
      .map((run) => {
        const value = THRESHOLD_METRICS[t.metric].read(run, runs);
        return {
          expr: t.expr,
          run: run.label,
          metric: t.metric,
          value,
          ok: value !== null && holds(value, t.op, t.limit),
          detail: formatMetric(t.metric, value),
        };
      }),
  );
