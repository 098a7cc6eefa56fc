import type { TrafficMix } from '../../../src/bench/load/load-plan.js';

/** A crowd of honest first attempts at one SKU, with what a test changes on top (a share of bots, the buyers). */
export const honestMix = (sku: string, changes: Partial<TrafficMix> = {}): TrafficMix => ({
  skus: [{ sku, weight: 1 }],
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
  ...changes,
});
