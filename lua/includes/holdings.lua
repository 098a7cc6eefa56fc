--[[
  A user's holding, the value of their field in {sku}:holders: one
  "<orderId>:<qty>" token per live reservation, oldest first, separated by
  spaces ("s1.a:1 s1.b:2"). The per-user limit counts units, so a user may
  hold several orders up to it. Order ids never contain ' ' or ':'.
]]

-- Units the holding counts, and its newest order id (nil when it is empty).
local function heldUnits(holding)
  local units, newest = 0, nil
  if holding then
    for orderId, qty in string.gmatch(holding, '([^ :]+):(%d+)') do
      units = units + tonumber(qty)
      newest = orderId
    end
  end
  return units, newest
end

-- The holding with one more order.
local function withOrder(holding, orderId, qty)
  local token = orderId .. ':' .. qty
  if holding and holding ~= '' then
    return holding .. ' ' .. token
  end
  return token
end

-- The holding without `orderId`, and whether it held it; '' once nothing is left.
local function withoutOrder(holding, orderId)
  local kept, found = {}, false
  if holding then
    for id, qty in string.gmatch(holding, '([^ :]+):(%d+)') do
      if id == orderId then
        found = true
      else
        kept[#kept + 1] = id .. ':' .. qty
      end
    end
  end
  return table.concat(kept, ' '), found
end

-- Removes `orderId` from the user's holding in KEYS-named hash `holders`;
-- the field goes once nothing is held. Returns true when it was held.
local function releaseHolding(holders, userId, orderId)
  local rest, found = withoutOrder(redis.call('HGET', holders, userId), orderId)
  if found then
    if rest == '' then
      redis.call('HDEL', holders, userId)
    else
      redis.call('HSET', holders, userId, rest)
    end
  end
  return found
end
