--[[
  Outcome names shared with TypeScript (src/sale/outcomes.ts). A test checks
  that both lists hold the same names, so a typo cannot drift in silently.
]]
local Outcome = {
  OK = 'OK',
  SOLD_OUT = 'SOLD_OUT',
  LIMIT = 'LIMIT',
  DUPLICATE = 'DUPLICATE',
  NOT_STARTED = 'NOT_STARTED',
  ENDED = 'ENDED',
  NOT_LOADED = 'NOT_LOADED',
  FROZEN = 'FROZEN',
  RELEASED = 'RELEASED',
  ALREADY_RELEASED = 'ALREADY_RELEASED',
  NOT_FOUND = 'NOT_FOUND',
  ADMITTED = 'ADMITTED',
  ADMISSION_CLOSED = 'ADMISSION_CLOSED',
  SENT = 'SENT',
  SHORT = 'SHORT',
  CREDITED = 'CREDITED',
  ALREADY_CREDITED = 'ALREADY_CREDITED',
}
