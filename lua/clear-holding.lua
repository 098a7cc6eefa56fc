--[[
  Clear a user's holding, only if it still names the given order: the user
  may hold a newer one by now. Used by reconcile for a holding whose order is
  released or gone, so the user can buy again.

  KEYS[1] {sku}:holders

  ARGV[1] user id
  ARGV[2] order id the holding must still name

  Returns 1 when cleared, 0 when the holding names another order or none.
]]
local rcall = redis.call

if rcall('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  rcall('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
