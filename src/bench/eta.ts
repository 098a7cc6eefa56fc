/**
 * Estimated time left, for the progress lines of long waits (a load, a
 * drain, a campaign): a person watching one wants to know whether to wait or
 * to come back later.
 */

/** "8s", "2m05s": a duration as a progress line says it, rounded up (never "0s" while something is left). */
export const durationText = (ms: number): string => {
  const seconds = Math.ceil(Math.max(0, ms) / 1000);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
};

/** "ETA 8s", "ETA 2m05s"; "ETA ?" while there is nothing to estimate from yet. */
export const etaText = (ms: number | null): string => (ms === null || !Number.isFinite(ms) ? 'ETA ?' : `ETA ${durationText(ms)}`);

/**
 * The time left at the rate seen since the first reading: `done` of `total`,
 * read again and again. Measured from the first reading, not from zero: a
 * wait that starts with work already done (a drain that began during the
 * load) would otherwise look faster than it is. Null until the rate is known.
 */
export const etaFromRate = (now: () => number = Date.now) => {
  let first: { at: number; done: number } | null = null;
  return (done: number, total: number): number | null => {
    const at = now();
    first ??= { at, done };
    const rate = (done - first.done) / (at - first.at);
    return rate > 0 ? (total - done) / rate : null;
  };
};

/** A load stops at its request count or its duration, whichever comes first. */
export const loadEtaMs = (progress: { requests: number; seconds: number }, plan: { amount: number; durationSec: number }): number | null => {
  const byDuration = (plan.durationSec - progress.seconds) * 1000;
  if (progress.requests === 0 || progress.seconds <= 0) return byDuration;
  const byCount = ((plan.amount - progress.requests) / progress.requests) * progress.seconds * 1000;
  return Math.max(0, Math.min(byDuration, byCount));
};
