/**
 * Outcome names returned by the Lua scripts. The same list lives in
 * lua/includes/outcomes.lua; test/sale/outcomes.test.ts keeps them equal.
 */
export const Outcome = {
  OK: 'OK',
  SOLD_OUT: 'SOLD_OUT',
  LIMIT: 'LIMIT',
  DUPLICATE: 'DUPLICATE',
  NOT_STARTED: 'NOT_STARTED',
  ENDED: 'ENDED',
  NOT_LOADED: 'NOT_LOADED',
  FROZEN: 'FROZEN',
  RELEASED: 'RELEASED',
  ALREADY_RELEASED: 'ALREADY_RELEASED',
  NOT_FOUND: 'NOT_FOUND',
  ADMITTED: 'ADMITTED',
  ADMISSION_CLOSED: 'ADMISSION_CLOSED',
  SENT: 'SENT',
  SHORT: 'SHORT',
  CREDITED: 'CREDITED',
  ALREADY_CREDITED: 'ALREADY_CREDITED',
} as const;

export type ReserveOutcome =
  | typeof Outcome.OK
  | typeof Outcome.SOLD_OUT
  | typeof Outcome.LIMIT
  | typeof Outcome.DUPLICATE
  | typeof Outcome.NOT_STARTED
  | typeof Outcome.ENDED
  | typeof Outcome.NOT_LOADED
  | typeof Outcome.FROZEN;

export type ReleaseOutcome = typeof Outcome.RELEASED | typeof Outcome.ALREADY_RELEASED | typeof Outcome.NOT_FOUND | typeof Outcome.FROZEN;

export type TicketsOutcome =
  | typeof Outcome.ADMITTED
  | typeof Outcome.ADMISSION_CLOSED
  | typeof Outcome.NOT_LOADED
  | typeof Outcome.SOLD_OUT
  | typeof Outcome.NOT_STARTED
  | typeof Outcome.ENDED;

export type TransferOutOutcome = typeof Outcome.SENT | typeof Outcome.SHORT | typeof Outcome.NOT_LOADED | typeof Outcome.FROZEN;

export type TransferInOutcome = typeof Outcome.CREDITED | typeof Outcome.ALREADY_CREDITED | typeof Outcome.NOT_LOADED | typeof Outcome.FROZEN;
