/**
 * Whether Redis and MySQL answer, for GET /health and the gauge
 * seckill_dependency_up: one Redis PING and one MySQL `SELECT 1` at most once
 * a second, however many ask. A load balancer probing every few hundred ms
 * from many places, or a crowd that found the URL, must not become one
 * round trip to each store per call.
 */

export const DEPENDENCIES = ['redis', 'mysql'] as const;
export type DependencyName = (typeof DEPENDENCIES)[number];

/** Each dependency: `up`, or `down: <why>`. */
export type HealthReport = { ok: boolean } & Record<DependencyName, string>;

/** How old a finished check may be and still answer. */
export const HEALTH_MAX_AGE_MS = 1_000;
/** A store that does not answer in this long is down for this check (a cut connection may otherwise hang until its own timeout). */
export const HEALTH_CHECK_TIMEOUT_MS = 2_000;

export interface DependencyHealthOptions {
  /** one call per dependency: resolves when it answers */
  checks: Record<DependencyName, () => Promise<unknown>>;
  /** after every check: the gauge and the check count */
  onCheck(report: HealthReport): void;
  maxAgeMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

const withTimeout = (call: () => Promise<unknown>, timeoutMs: number): Promise<string> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(`down: no answer in ${timeoutMs} ms`), timeoutMs);
    timer.unref(); // a check under way does not hold a stopping process
    // A check that throws synchronously is as down as one that rejects.
    Promise.resolve()
      .then(call)
      .then(
        () => resolve('up'),
        (error: unknown) => resolve(`down: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => clearTimeout(timer));
  });

export class DependencyHealth {
  private pending: Promise<HealthReport> | null = null;
  private last: { report: HealthReport; at: number } | null = null;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly options: DependencyHealthOptions) {
    this.maxAgeMs = options.maxAgeMs ?? HEALTH_MAX_AGE_MS;
    this.timeoutMs = options.timeoutMs ?? HEALTH_CHECK_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
  }

  /** The last report if it is younger than a second, else the check under way, else a new one. Never rejects. */
  current(): Promise<HealthReport> {
    if (this.last && this.now() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.report);
    return (this.pending ??= this.check());
  }

  private async check(): Promise<HealthReport> {
    const [redis, mysql] = await Promise.all(DEPENDENCIES.map((name) => withTimeout(this.options.checks[name], this.timeoutMs)));
    const report: HealthReport = { ok: redis === 'up' && mysql === 'up', redis, mysql };
    this.last = { report, at: this.now() };
    this.pending = null;
    this.options.onCheck(report);
    return report;
  }
}
