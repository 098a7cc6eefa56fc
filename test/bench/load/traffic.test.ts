import { describe, expect, it } from 'vitest';
import type { TrafficMix } from '../../../src/bench/load/load-plan.js';
import { createTraffic } from '../../../src/bench/load/traffic.js';

const mix = (bots: Partial<TrafficMix>): TrafficMix => ({
  skus: [{ sku: 'traffic-1', weight: 1 }],
  buyers: 1_000,
  qty: 1,
  retries: 0,
  hammer: 0,
  unknownSku: 0,
  badBody: 0,
  noToken: 0,
  badIdentity: 0,
  lostReplies: 0,
  tokenSecret: null,
  jwt: null,
  ...bots,
});

describe('the crowd the load generator sends', () => {
  it("asks only for the sale's SKU when the mix has no unknown-SKU share, even from the first request (retries and hammerers with nothing sent yet are first attempts)", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const traffic = createTraffic(mix({ retries: 0.35, hammer: 0.3 }), seed);
      const skus = new Set(Array.from({ length: 200 }, () => traffic.next().sku));
      expect([...skus]).toEqual(['traffic-1']);
    }
  });
});
