--[[
  Reserve stock for one buy request. Atomic: either every write below happens
  or none does, so "reserved" and "queued for MySQL" are one fact.

  KEYS[1] {sku}:stock         units still on sale
  KEYS[2] {sku}:meta          hash: limit, startsAt, endsAt (ms, 0 = open), frozen
  KEYS[3] {sku}:holders       hash: userId -> orderId
  KEYS[4] {sku}:requests      hash: userId/requestId -> orderId
  KEYS[5] {sku}:reservations  hash: orderId -> JSON reservation record
  KEYS[6] {sku}:outbox        stream read by the relay

  ARGV[1] sku
  ARGV[2] user id
  ARGV[3] quantity (integer >= 1, validated by the caller)
  ARGV[4] request id, or '' when the buyer sent none
  ARGV[5] order id to use if this call reserves
  ARGV[6] now, ms since epoch
  ARGV[7] pub/sub channel for stock events

  Returns { outcome, orderId, remaining }:
    OK           orderId is the new order; remaining is the stock left
    DUPLICATE    this user already sent this request id; orderId is its order
    LIMIT        the user holds an order already (orderId), or qty > limit ('')
    SOLD_OUT     fewer units left than asked for; nothing sold (no partial fill)
    NOT_STARTED / ENDED   outside the sale window
    NOT_LOADED   the SKU was never preloaded
    FROZEN       reconcile is resetting the SKU from MySQL: retry in a moment
]]
local rcall = redis.call
--- @include "outcomes"

local sku, userId, requestId, orderId = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local qty = tonumber(ARGV[3])
local now = tonumber(ARGV[6])

-- A retry must get its original answer, even after the sale has ended.
local requestField = nil
if requestId ~= '' then
  requestField = userId .. '/' .. requestId
  local seen = rcall('HGET', KEYS[4], requestField)
  if seen then
    return { Outcome.DUPLICATE, seen, -1 }
  end
end

local meta = rcall('HMGET', KEYS[2], 'limit', 'startsAt', 'endsAt', 'frozen')
if not meta[1] then
  return { Outcome.NOT_LOADED, '', -1 }
end
if meta[4] then
  return { Outcome.FROZEN, '', -1 }
end
local startsAt, endsAt = tonumber(meta[2]), tonumber(meta[3])
if startsAt > 0 and now < startsAt then
  return { Outcome.NOT_STARTED, '', -1 }
end
if endsAt > 0 and now >= endsAt then
  return { Outcome.ENDED, '', -1 }
end

local held = rcall('HGET', KEYS[3], userId)
if held then
  return { Outcome.LIMIT, held, -1 }
end
if qty > tonumber(meta[1]) then
  return { Outcome.LIMIT, '', -1 }
end

local stock = tonumber(rcall('GET', KEYS[1]) or '0')
if stock < qty then
  return { Outcome.SOLD_OUT, '', stock }
end

local remaining = rcall('DECRBY', KEYS[1], qty)
rcall('HSET', KEYS[3], userId, orderId)
if requestField then
  rcall('HSET', KEYS[4], requestField, orderId)
end
local event = cjson.encode({
  orderId = orderId, sku = sku, userId = userId, qty = qty,
  requestId = requestId, createdAt = now,
})
rcall('HSET', KEYS[5], orderId, event)
rcall('XADD', KEYS[6], '*', 'event', event)
if remaining == 0 then
  rcall('PUBLISH', ARGV[7], 'SOLD_OUT ' .. sku)
end
return { Outcome.OK, orderId, remaining }
