import type { Fault } from './kinds.js';
import { seededRandom } from '../random.js';
import type { Chaos, Scenario } from '../scenario.js';

/**
 * The faults of one chaos run: kinds, times and durations drawn from the
 * seed, so the same seed injects the same faults (and sends the same
 * traffic) again when a break must be reproduced.
 */
export const drawFaults = (chaos: Chaos, seed: number): Fault[] => {
  // A stream of its own, apart from the traffic's, but from the same seed.
  const random = seededRandom(seed ^ 0x5eed_c4a0);
  return Array.from({ length: chaos.faults }, () => ({
    kind: chaos.kinds[Math.floor(random() * chaos.kinds.length)],
    atMs: Math.round(300 + random() * (chaos.withinMs - 300)),
    forMs: Math.round(200 + random() * (chaos.maxForMs - 200)),
  })).sort((a, b) => a.atMs - b.atMs);
};

/** The scenario as one seed runs it: its written faults plus the drawn ones. */
export const scenarioForSeed = (scenario: Scenario, seed: number): Scenario =>
  scenario.chaos === null ? scenario : { ...scenario, faults: [...scenario.faults, ...drawFaults(scenario.chaos, seed)].sort((a, b) => a.atMs - b.atMs) };
