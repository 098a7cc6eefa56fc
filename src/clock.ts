/**
 * This process's own wall clock, as it stamps what it does (order ids, the
 * arrival of a request). `SECKILL_CLOCK_OFFSET_MS` shifts it: tests and bench
 * runs give gateways clocks that disagree, as a real fleet's do. A list
 * (`-2000,2000`) gives each `serve --workers` worker the next offset in turn.
 * What decides a sale — its window, its end — is judged on Redis's TIME, so
 * a clock that is off changes nothing a buyer is told.
 */
import cluster from 'node:cluster';

const offsetOf = (env = process.env): number => {
  const raw = env.SECKILL_CLOCK_OFFSET_MS;
  if (raw === undefined || raw === '') return 0;
  const offsets = raw.split(',').map(Number);
  if (offsets.some((n) => !Number.isFinite(n))) throw new Error(`SECKILL_CLOCK_OFFSET_MS: ${JSON.stringify(raw)} is not a list of milliseconds`);
  const worker = cluster.worker?.id ?? 1;
  return offsets[(worker - 1) % offsets.length];
};

const OFFSET_MS = offsetOf();

/** Milliseconds since the epoch on this process's clock. */
export const wallClock = (): number => Date.now() + OFFSET_MS;
