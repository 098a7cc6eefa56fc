/** Waiting for a run's sale to drain: every unit the buyers were sold on its way into MySQL. */
import { setTimeout as sleep } from 'node:timers/promises';
import { isDrained, unitsInFlight, type SaleState } from './judged-sale.js';
import type { Scenario } from '../scenario.js';

/** Reads the state until it has drained, the deadline passed, or the units in flight stopped moving; which. */
export const waitForDrain = async (
  read: () => Promise<SaleState>,
  scenario: Scenario,
  deadline: number,
  progress: (unitsInFlight: number) => void,
): Promise<DrainEnd> => {
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const state = await read();
    if (isDrained(state, scenario.payment !== null)) return { drained: true };
    if (Date.now() > deadline) return { drained: false, stalled: false };
    const inFlight = unitsInFlight(state);
    if (inFlight !== last) {
      last = inFlight;
      movedAt = Date.now();
    } else if (inFlight > 0 && Date.now() - movedAt > DRAIN_STALL_MS) {
      return { drained: false, stalled: true };
    }
    progress(inFlight);
    await sleep(100);
  }
};

/**
 * Units in flight that did not move for this long will not: a reservation
 * whose outbox entry was lost, a pipeline that is stuck. Longer than any
 * redelivery takes (a dead relay's entries are claimed after 2 s in a fault
 * run, a dead consumer's partitions move after 6 s).
 */
export const DRAIN_STALL_MS = 30_000;

type DrainEnd = { drained: true } | { drained: false; stalled: boolean };
