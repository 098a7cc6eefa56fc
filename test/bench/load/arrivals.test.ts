import { describe, expect, it } from 'vitest';
import { arrivalOf, intendedCount, intendedTimes, rateProfile } from '../../../src/bench/load/arrivals.js';
import { parseScenario, ScenarioError } from '../../../src/bench/scenario.js';

const times = (profile: ReturnType<typeof rateProfile>, max = 1e9) => [...intendedTimes(profile, max)];

describe('arrival schedules', () => {
  it('spaces a constant rate evenly: 500/s over 2 s is 1,000 requests 2 ms apart', () => {
    const t = times(rateProfile({ shape: 'constant', rate: 500 }, 2_000));
    expect(t).toHaveLength(1_000);
    expect(t[0]).toBe(0);
    expect(t[1]).toBeCloseTo(2);
    expect(t[999]).toBeCloseTo(1_998);
  });

  it('sends a ramp as many requests as its area, ever closer together', () => {
    const profile = rateProfile({ shape: 'ramp', from: 0, to: 1_000 }, 2_000);
    const t = times(profile);
    expect(t).toHaveLength(intendedCount(profile));
    expect(t).toHaveLength(1_000);
    // Half the area of a ramp from 0 is reached at 1/√2 of its length.
    expect(t[500]).toBeCloseTo(2_000 / Math.SQRT2, 0);
    for (let i = 1; i < t.length; i++) expect(t[i]).toBeGreaterThanOrEqual(t[i - 1]);
  });

  it("shapes the seed's spike: nothing to the peak in 100 ms, held, then a tail of retries falling to nothing", () => {
    const profile = rateProfile({ shape: 'spike', peak: 4_000, riseMs: 100, holdMs: 1_000, tailMs: 2_000, tailShare: 0.25 }, 15_000);
    const t = times(profile);
    // 200 in the rise, 4,000 held, 1,000 in the tail.
    expect(t).toHaveLength(5_200);
    expect(t.filter((x) => x < 100)).toHaveLength(200);
    expect(t.filter((x) => x >= 100 && x < 1_100)).toHaveLength(4_000);
    expect(t[t.length - 1]).toBeLessThan(3_100);
    // Cut by a shorter duration, and by the request cap.
    expect(times(rateProfile({ shape: 'spike', peak: 4_000, riseMs: 100, holdMs: 1_000, tailMs: 2_000, tailShare: 0.25 }, 600))).toHaveLength(2_200);
    expect(times(profile, 300)).toHaveLength(300);
  });

  it("fills what the command line leaves out from the scenario, or spreads the scenario's requests over its duration", () => {
    const load = { requests: 60_000, durationSec: 15, arrival: null };
    expect(arrivalOf('closed', load, { rate: null, rampFrom: null })).toBeNull();
    expect(arrivalOf('constant', load, { rate: null, rampFrom: null })).toEqual({ shape: 'constant', rate: 4_000 });
    expect(arrivalOf('ramp', load, { rate: 900, rampFrom: 100 })).toEqual({ shape: 'ramp', from: 100, to: 900 });
    const own = { shape: 'spike' as const, peak: 3_000, riseMs: 50, holdMs: 500, tailMs: 1_000, tailShare: 0.5 };
    expect(arrivalOf('spike', { ...load, arrival: own }, { rate: 5_000, rampFrom: null })).toEqual({ ...own, peak: 5_000 });
  });
});

describe('a scenario with arrivals', () => {
  const scenario = (load: unknown) => JSON.stringify({ skus: [{ sku: 'a', stock: 1 }], load });

  it('reads a spike, its parts defaulted', () => {
    const parsed = parseScenario('s.json', scenario({ arrival: { shape: 'spike', peak: 2000, hold: '2s' }, maxInFlight: 500 }));
    expect(parsed.load.arrival).toEqual({ shape: 'spike', peak: 2_000, riseMs: 100, holdMs: 2_000, tailMs: 2_000, tailShare: 0.25 });
    expect(parsed.load.maxInFlight).toBe(500);
  });

  it("refuses an unknown shape, a missing rate, or an arrival beside the closed loop's rate, naming the field", () => {
    expect(() => parseScenario('s.json', scenario({ arrival: { shape: 'burst' } }))).toThrow(/load\.arrival\.shape must be one of constant, ramp, spike/);
    expect(() => parseScenario('s.json', scenario({ arrival: { shape: 'constant' } }))).toThrow(ScenarioError);
    expect(() => parseScenario('s.json', scenario({ arrival: { shape: 'constant', rate: 10 }, rate: 10 }))).toThrow(/load\.arrival is an open crowd/);
  });
});
