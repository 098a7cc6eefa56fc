--[[
  Take one order out of a user's holding, if the holding still lists it: the
  user may hold other orders. Used by reconcile for a holding whose order is
  released or gone, so the user can buy again.

  KEYS[1] {sku}:holders

  ARGV[1] user id
  ARGV[2] order id to take out

  Returns 1 when it was taken out, 0 when the holding does not list it.
]]
--- @include "holdings"

if releaseHolding(KEYS[1], ARGV[1], ARGV[2]) then
  return 1
end
return 0
