import { describe, expect, it } from 'vitest';
import type { TrafficMix } from '../../../src/bench/load/load-plan.js';
import { createTraffic } from '../../../src/bench/load/traffic.js';
import { honestMix } from './honest-mix.js';

const mix = (bots: Partial<TrafficMix>): TrafficMix => honestMix('traffic-1', bots);

describe('the crowd the load generator sends', () => {
  it("asks only for the sale's SKU when the mix has no unknown-SKU share, even from the first request (retries and hammerers with nothing sent yet are first attempts)", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const traffic = createTraffic(mix({ retries: 0.35, hammer: 0.3 }), seed);
      const skus = new Set(Array.from({ length: 200 }, () => traffic.next().sku));
      expect([...skus]).toEqual(['traffic-1']);
    }
  });
});
