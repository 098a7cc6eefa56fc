import { describe, expect, it } from 'vitest';
import { durationText, etaFromRate, etaText, loadEtaMs } from '../../src/bench/eta.js';

describe('ETA of progress lines', () => {
  it('says the time left in seconds, then minutes, rounded up, and "?" while unknown', () => {
    expect(etaText(null)).toBe('ETA ?');
    expect(etaText(Infinity)).toBe('ETA ?');
    expect(etaText(400)).toBe('ETA 1s');
    expect(etaText(59_000)).toBe('ETA 59s');
    expect(etaText(125_000)).toBe('ETA 2m05s');
    expect(durationText(-5)).toBe('0s');
  });

  it('estimates from the rate since the first reading, not from zero: a drain that began with work done is not taken for a fast one', () => {
    let now = 0;
    const eta = etaFromRate(() => now);
    expect(eta(600, 1_000)).toBeNull(); // one reading: no rate yet
    now = 1_000;
    expect(eta(700, 1_000)).toBe(3_000); // 100 a second since the first reading, 300 left
    now = 2_000;
    expect(eta(700, 1_000)).toBe(6_000); // stalled: the rate halves, the ETA doubles
  });

  it('gives no ETA while nothing progresses or it goes backwards (units arriving faster than they drain)', () => {
    let now = 0;
    const eta = etaFromRate(() => now);
    eta(0, 100);
    now = 5_000;
    expect(eta(0, 100)).toBeNull();
    expect(eta(-10, 100)).toBeNull();
  });

  it('ends a load at its request count or its duration, whichever comes first', () => {
    // 1,000 of 10,000 requests in 2 s: 18 s more by count, but the duration ends it in 8 s.
    expect(loadEtaMs({ requests: 1_000, seconds: 2 }, { amount: 10_000, durationSec: 10 })).toBe(8_000);
    // 5,000 of 10,000 in 1 s: the count ends it in 1 s.
    expect(loadEtaMs({ requests: 5_000, seconds: 1 }, { amount: 10_000, durationSec: 10 })).toBe(1_000);
    expect(loadEtaMs({ requests: 0, seconds: 0 }, { amount: 10_000, durationSec: 10 })).toBe(10_000);
  });
});
