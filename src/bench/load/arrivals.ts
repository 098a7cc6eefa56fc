/**
 * When an open crowd's requests arrive, whatever the server does: the shapes
 * a scenario or `bench --arrival` names (a constant rate, a ramp, the seed's
 * spike), each a rate profile, and the intended send times it gives. The
 * model is k6's constant- and ramping-arrival-rate executors: a request is
 * due at its time, and one that cannot go out then is dropped, not delayed
 * (open-load.ts). Crosses a process boundary (IPC) as plain data.
 */

export const ARRIVAL_SHAPES = ['constant', 'ramp', 'spike'] as const;
export type ArrivalShape = (typeof ARRIVAL_SHAPES)[number];
/** `closed`: each connection sends again once answered (autocannon), the model to compare with. */
export type ArrivalModel = 'closed' | ArrivalShape;
export const ARRIVAL_MODELS: readonly ArrivalModel[] = ['closed', ...ARRIVAL_SHAPES];

/** An open crowd's arrivals, over the load's duration. */
export type Arrival =
  /** `rate` requests a second from start to end */
  | { shape: 'constant'; rate: number }
  /** from `from` to `to` requests a second, linearly, over the duration */
  | { shape: 'ramp'; from: number; to: number }
  /**
   * the seed's flash sale: from nothing to `peak` requests a second in
   * `riseMs` (the page opens), held `holdMs` (the crowd clicks), then the
   * tail of retries: `tailShare` of the peak falling to nothing over `tailMs`
   */
  | { shape: 'spike'; peak: number; riseMs: number; holdMs: number; tailMs: number; tailShare: number };

/** The spike's parts when neither the scenario nor the command line gives them. */
export const SPIKE_DEFAULTS = { riseMs: 100, holdMs: 1_000, tailMs: 2_000, tailShare: 0.25 } as const;

/** A point of a rate profile: `rate` requests a second at `atMs`; linear between points, a step where two share an atMs. */
interface RatePoint {
  atMs: number;
  rate: number;
}

/** The rate profile of an arrival over `durationMs` (a spike is cut short by a shorter duration). */
export const rateProfile = (arrival: Arrival, durationMs: number): RatePoint[] => {
  switch (arrival.shape) {
    case 'constant':
      return [
        { atMs: 0, rate: arrival.rate },
        { atMs: durationMs, rate: arrival.rate },
      ];
    case 'ramp':
      return [
        { atMs: 0, rate: arrival.from },
        { atMs: durationMs, rate: arrival.to },
      ];
    case 'spike': {
      const { peak, riseMs, holdMs, tailMs, tailShare } = arrival;
      const held = riseMs + holdMs;
      return cutAt(
        [
          { atMs: 0, rate: 0 },
          { atMs: riseMs, rate: peak },
          { atMs: held, rate: peak },
          { atMs: held, rate: peak * tailShare },
          { atMs: held + tailMs, rate: 0 },
        ],
        durationMs,
      );
    }
  }
};

/** The profile up to `endMs`, the segment it falls in cut there. */
const cutAt = (points: RatePoint[], endMs: number): RatePoint[] => {
  const kept = points.filter((p) => p.atMs <= endMs);
  const next = points.find((p) => p.atMs > endMs);
  const last = kept[kept.length - 1];
  if (next && last.atMs < endMs) kept.push({ atMs: endMs, rate: last.rate + ((next.rate - last.rate) * (endMs - last.atMs)) / (next.atMs - last.atMs) });
  return kept;
};

/** Requests the profile asks for in all (its area), before any cap on the count. */
export const intendedCount = (points: RatePoint[]): number =>
  points.slice(1).reduce((n, p, i) => n + ((points[i].rate + p.rate) / 2) * ((p.atMs - points[i].atMs) / 1000), 0);

/**
 * The intended send time of each request, ms from the start, in order, at
 * most `max` of them: request n is due when the profile's area reaches n
 * (the first at the first moment the rate is above 0). Solved per segment,
 * where the area grows as a quadratic of the time; lazy, so a long run never
 * holds its whole schedule.
 */
export function* intendedTimes(points: RatePoint[], max: number): Generator<number> {
  let n = 0;
  let areaBefore = 0;
  for (let i = 1; i < points.length && n < max; i++) {
    const { atMs: t0, rate: r0 } = points[i - 1];
    const { atMs: t1, rate: r1 } = points[i];
    const lengthSec = (t1 - t0) / 1000;
    if (lengthSec <= 0) continue;
    // area(τ) = r0·τ + slope·τ²/2 over the segment, τ in seconds
    const slope = (r1 - r0) / lengthSec;
    const segmentArea = ((r0 + r1) / 2) * lengthSec;
    while (n < max && n < areaBefore + segmentArea) {
      const wanted = n - areaBefore;
      const tau = Math.abs(slope) < 1e-9 ? wanted / r0 : (-r0 + Math.sqrt(Math.max(0, r0 * r0 + 2 * slope * wanted))) / slope;
      yield t0 + Math.min(lengthSec, Math.max(0, tau)) * 1000;
      n += 1;
    }
    areaBefore += segmentArea;
  }
}

/** The arrival in a few words, for reports: "spike to 4,000/s". */
export const arrivalText = (arrival: Arrival | null): string => {
  if (arrival === null) return 'closed loop';
  const rate = (r: number) => `${Math.round(r).toLocaleString('en')}/s`;
  switch (arrival.shape) {
    case 'constant':
      return `constant ${rate(arrival.rate)}`;
    case 'ramp':
      return `ramp ${rate(arrival.from)} to ${rate(arrival.to)}`;
    case 'spike':
      return `spike to ${rate(arrival.peak)} in ${arrival.riseMs} ms, held ${arrival.holdMs / 1000} s, tail ${arrival.tailMs / 1000} s`;
  }
};

/** What the command line asks of the open crowd's shape (bench --arrival-rate, --ramp-from); null: the scenario's, or the default. */
export interface ArrivalAsk {
  rate: number | null;
  rampFrom: number | null;
}

/**
 * The arrival of one run of `model` (null for the closed loop): the
 * scenario's own when it has that shape, with what the command line asks on
 * top; without a rate anywhere, the scenario's requests spread evenly over
 * its duration (its own budget, now on a schedule).
 */
export const arrivalOf = (model: ArrivalModel, load: { requests: number; durationSec: number; arrival: Arrival | null }, ask: ArrivalAsk): Arrival | null => {
  const own = load.arrival;
  const evenRate = Math.max(1, Math.round(load.requests / load.durationSec));
  switch (model) {
    case 'closed':
      return null;
    case 'constant':
      return { shape: 'constant', rate: ask.rate ?? (own?.shape === 'constant' ? own.rate : evenRate) };
    case 'ramp':
      return {
        shape: 'ramp',
        from: ask.rampFrom ?? (own?.shape === 'ramp' ? own.from : 0),
        to: ask.rate ?? (own?.shape === 'ramp' ? own.to : evenRate),
      };
    case 'spike':
      return own?.shape === 'spike' ? { ...own, peak: ask.rate ?? own.peak } : { shape: 'spike', peak: ask.rate ?? evenRate, ...SPIKE_DEFAULTS };
  }
};
