/**
 * Logs dependency failures without flooding: the first failure of each
 * dependency at once, then a count at most every `everyMs`. Every failure is
 * also counted in metrics by the caller, so none goes unseen.
 */
export class ErrorLog {
  private readonly pending = new Map<string, { count: number; lastLog: number }>();

  constructor(
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    private readonly everyMs = 5_000,
  ) {}

  report(dependency: string, error: unknown): void {
    const now = Date.now();
    const entry = this.pending.get(dependency) ?? { count: 0, lastLog: 0 };
    entry.count += 1;
    if (now - entry.lastLog >= this.everyMs) {
      const message = error instanceof Error ? error.message : String(error);
      this.write(`${new Date(now).toISOString()} ${dependency} failing (${entry.count} call(s) since last report): ${message}`);
      entry.count = 0;
      entry.lastLog = now;
    }
    this.pending.set(dependency, entry);
  }
}
