import type { AuthMode } from '../../config.js';
import type { StrategyName } from '../../gateway/strategies/strategy.js';
import type { Scenario } from '../scenario.js';
import { botsHoldNothing, impostorsHoldNothing } from './bot-invariants.js';
import type { InvariantResult, SaleState } from './judged-sale.js';
import { everyCreatedHasOneOrder, everyOrderTold, idempotentAnswers, uniqueOrderIds } from './order-invariants.js';
import { noDrift, noOversell, noUnitUnsoldWhileRefused, perUserLimit, soldOutWhenExpected, soldWithinWindow, stockConserved } from './stock-invariants.js';

/**
 * Checks the drained sale against every invariant (docs/bench.md lists them), in a fixed
 * order so reports and CI logs line up run to run. Pure: the caller reads
 * Redis and MySQL, this only judges.
 */
export function checkInvariants(state: SaleState): InvariantResult[] {
  return [
    everyCreatedHasOneOrder(state),
    everyOrderTold(state),
    noOversell(state),
    stockConserved(state),
    noDrift(state),
    perUserLimit(state),
    uniqueOrderIds(state),
    idempotentAnswers(state),
    soldOutWhenExpected(state),
    noUnitUnsoldWhileRefused(state),
    soldWithinWindow(state),
  ];
}

/** The invariants a run of this strategy answers to. The ceiling stores nothing: there is no sale to check. */
export const invariantsOf = (state: SaleState, strategy: StrategyName, scenario: Scenario, auth: AuthMode): InvariantResult[] => {
  if (strategy === 'ceiling') return [];
  const invariants = checkInvariants(state);
  if (scenario.bots.noToken > 0) invariants.push(botsHoldNothing(state));
  if (scenario.bots.badIdentity > 0 && auth === 'jwt') invariants.push(impostorsHoldNothing(state));
  return invariants;
};
