/**
 * What a threshold can name (`p99<150ms`, `ceiling>=0.7`, `errors==0`): one
 * table of metric → how to read it from a judged run. A new figure of the
 * run becomes a threshold by one entry here; the parser, the error that
 * lists the metrics, the reports and the JUnit file all read this table.
 */
import type { StrategyName } from '../../gateway/strategies/strategy.js';
import { LATENCY_PERCENTILES } from '../load/load-plan.js';
import type { StrategyRun } from '../report/figures.js';

/**
 * How a metric's value is written in a threshold: a duration takes its unit
 * (`150ms`, `0.15s`: a bare number would leave the reader guessing), a count
 * or a ratio none.
 */
export type MetricKind = 'duration' | 'count' | 'ratio' | 'rate';

export interface ThresholdMetric {
  kind: MetricKind;
  /** what it is, in the error that lists the metrics and in the README */
  about: string;
  /** a strategy the run must include for the metric to be read (the ceiling ratio divides by the ceiling's run) */
  needs?: StrategyName;
  /** the value in the run (durations in ms); null when the run did not measure it */
  read: (run: StrategyRun, runs: readonly StrategyRun[]) => number | null;
}

/** The ceiling's run of the same sign-in and crowd, to divide by (the comparison table's `÷ ceiling` does the same). */
const ceilingOf = (run: StrategyRun, runs: readonly StrategyRun[]): StrategyRun | undefined => {
  const ceilings = runs.filter((r) => r.strategy === 'ceiling');
  return (
    ceilings.find((r) => r.auth === run.auth && r.arrival === run.arrival) ??
    ceilings.find((r) => r.arrival === run.arrival) ??
    ceilings.find((r) => r.auth === run.auth) ??
    ceilings[0]
  );
};

/** p25 … p99.999: every percentile bench measures (LATENCY_PERCENTILES), of every answer's latency. */
const latencyPercentiles = (): Record<string, ThresholdMetric> =>
  Object.fromEntries(
    LATENCY_PERCENTILES.filter((p) => p > 0 && p < 100).map((p) => [
      `p${p}`,
      {
        kind: 'duration',
        about: `${p}th percentile of the answers' latency, from each request's intended send (an open crowd's arrival; the closed loop's send)`,
        read: (run) => run.latencyPercentiles.find((l) => l.percentile === p)?.ms ?? null,
      } satisfies ThresholdMetric,
    ]),
  );

export const THRESHOLD_METRICS: Readonly<Record<string, ThresholdMetric>> = {
  ...latencyPercentiles(),
  max: { kind: 'duration', about: 'the slowest answer', read: (run) => run.maxMs },
  rps: { kind: 'rate', about: 'requests answered a second', read: (run) => run.rps },
  ceiling: {
    kind: 'ratio',
    about: "requests/s ÷ the ceiling's requests/s in the same run (needs ceiling in --compare)",
    needs: 'ceiling',
    read: (run, runs) => {
      const ceiling = ceilingOf(run, runs);
      return ceiling && ceiling.rps > 0 ? run.rps / ceiling.rps : null;
    },
  },
  dropped: {
    kind: 'count',
    about: 'requests an open crowd could not send in time (too many in flight): 0 for the closed loop, which never sends past its connections',
    read: (run) => run.crowd.dropped,
  },
  errors: { kind: 'count', about: 'requests that got no answer (connection errors, timeouts)', read: (run) => run.errors },
  '5xx': { kind: 'count', about: 'answers with a 5xx status (REDIS_DOWN, MYSQL_DOWN, a 500)', read: (run) => run.serverErrors },
};

export const METRIC_NAMES: readonly string[] = Object.keys(THRESHOLD_METRICS);
