import { FAULT_KINDS, type Fault, type FaultKind } from './faults.js';
import type { Scenario } from './scenario.js';
import { seededRandom } from './traffic.js';

/** A scenario's `"chaos"` block: faults drawn from the seed instead of written out. */
export interface Chaos {
  /** how many faults each run injects */
  faults: number;
  /** they start between 300 ms and this many ms into the load */
  withinMs: number;
  /** each lasts between 200 ms and this many ms */
  maxForMs: number;
  kinds: FaultKind[];
}

/**
 * The faults of one chaos run: kinds, times and durations drawn from the
 * seed, so the same seed injects the same faults (and sends the same
 * traffic) again when a break must be reproduced.
 */
export const drawFaults = (chaos: Chaos, seed: number): Fault[] => {
  // A stream of its own, apart from the traffic's, but from the same seed.
  const random = seededRandom(seed ^ 0x5eed_c4a0);
  return Array.from({ length: chaos.faults }, () => ({
    kind: chaos.kinds[Math.floor(random() * chaos.kinds.length)]!,
    atMs: Math.round(300 + random() * (chaos.withinMs - 300)),
    forMs: Math.round(200 + random() * (chaos.maxForMs - 200)),
  })).sort((a, b) => a.atMs - b.atMs);
};

/** The scenario as one seed runs it: its written faults plus the drawn ones. */
export const scenarioForSeed = (scenario: Scenario, seed: number): Scenario =>
  scenario.chaos === null ? scenario : { ...scenario, faults: [...scenario.faults, ...drawFaults(scenario.chaos, seed)].sort((a, b) => a.atMs - b.atMs) };

export const ALL_FAULT_KINDS: FaultKind[] = [...FAULT_KINDS];
