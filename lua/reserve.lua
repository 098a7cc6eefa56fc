--[[
  Reserve stock for one buy request. Atomic: either every write below happens
  or none does, so "reserved" and "queued for MySQL" are one fact.

  KEYS[1] {sku}:stock         units still on sale
  KEYS[2] {sku}:meta          hash: limit, startsAt, endsAt (ms, 0 = open), frozen
  KEYS[3] {sku}:holders       hash: userId -> holding (see includes/holdings.lua)
  KEYS[4] {sku}:requests      hash: userId/requestId -> orderId
  KEYS[5] {sku}:reservations  hash: orderId -> JSON reservation record
  KEYS[6] {sku}:outbox        stream read by the relay; each entry's one field is
                              'event' (STREAM_FIELD in src/redis/keys.ts)
  KEYS[7] {sku}:admitted      admission tickets handed out (see take-tickets.lua)

  ARGV[1] sku
  ARGV[2] user id
  ARGV[3] quantity (integer >= 1, validated by the caller)
  ARGV[4] request id, or '' when the buyer sent none
  ARGV[5] order id to use if this call reserves
  ARGV[6] now, ms since epoch
  ARGV[7] pub/sub channel for stock events
  ARGV[8] '1' when the caller spent an admission ticket on this call

  Returns { outcome, orderId, remaining }:
    OK           orderId is the new order; remaining is the stock left
    DUPLICATE    this user already sent this request id; orderId is its order
    LIMIT        the user's units plus qty exceed the per-user limit; orderId
                 is their newest order ('' when they hold none: qty alone is over it)
    SOLD_OUT     fewer units left than asked for; nothing sold (no partial fill)
    NOT_STARTED / ENDED   outside the sale window
    NOT_LOADED   the SKU was never preloaded
    FROZEN       reconcile is resetting the SKU from MySQL: retry in a moment

  Every answer but OK gives the admission ticket back (ARGV[8]): the cap
  counts buyers who can buy, so a crowd before the opening, a user past the
  limit or a retry never closes admission while units are left.
]]
local rcall = redis.call
--- @include "outcomes"
--- @include "holdings"

local sku, userId, requestId, orderId = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local qty = tonumber(ARGV[3])
local now = tonumber(ARGV[6])

local function refuse(outcome, answerOrderId, remaining)
  -- EXISTS: never create the counter of a SKU that is gone.
  if ARGV[8] == '1' and rcall('EXISTS', KEYS[7]) == 1 then
    rcall('DECR', KEYS[7])
  end
  return { outcome, answerOrderId, remaining }
end

-- A retry must get its original answer, even after the sale has ended.
local requestField = nil
if requestId ~= '' then
  requestField = userId .. '/' .. requestId
  local seen = rcall('HGET', KEYS[4], requestField)
  if seen then
    return refuse(Outcome.DUPLICATE, seen, -1)
  end
end

local meta = rcall('HMGET', KEYS[2], 'limit', 'startsAt', 'endsAt', 'frozen')
if not meta[1] then
  return refuse(Outcome.NOT_LOADED, '', -1)
end
if meta[4] then
  return refuse(Outcome.FROZEN, '', -1)
end
local startsAt, endsAt = tonumber(meta[2]), tonumber(meta[3])
if startsAt > 0 and now < startsAt then
  return refuse(Outcome.NOT_STARTED, '', -1)
end
if endsAt > 0 and now >= endsAt then
  return refuse(Outcome.ENDED, '', -1)
end

local holding = rcall('HGET', KEYS[3], userId)
local held, newest = heldUnits(holding)
if held + qty > tonumber(meta[1]) then
  return refuse(Outcome.LIMIT, newest or '', -1)
end

local stock = tonumber(rcall('GET', KEYS[1]) or '0')
if stock < qty then
  return refuse(Outcome.SOLD_OUT, '', stock)
end

local remaining = rcall('DECRBY', KEYS[1], qty)
rcall('HSET', KEYS[3], userId, withOrder(holding, orderId, qty))
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
