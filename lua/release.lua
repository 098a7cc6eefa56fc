--[[
  Return the stock of one reservation to sale. Idempotent: the record keeps
  a `released` mark, so a second call is a no-op and says so. Used by
  compensation (dead letters), payment timeout and cancellation.

  KEYS[1] {sku}:stock
  KEYS[2] {sku}:meta          'released' counts units returned (raises the admission cap); 'frozen'
  KEYS[3] {sku}:holders
  KEYS[4] {sku}:reservations

  ARGV[1] order id
  ARGV[2] reason (e.g. PAYMENT_TIMEOUT, DEAD_LETTER:<why>)
  ARGV[3] now, ms since epoch
  ARGV[4] sku
  ARGV[5] pub/sub channel for stock events

  Returns { outcome, remaining }:
    RELEASED          stock returned; remaining is the stock now on sale
    ALREADY_RELEASED  an earlier call returned it; nothing changed
    NOT_FOUND         no reservation with this order id
    FROZEN            reconcile is resetting the SKU from MySQL: nothing
                      changed, call again once it is thawed (a release now
                      could be overwritten by the reset)
]]
local rcall = redis.call
--- @include "outcomes"
--- @include "holdings"

local orderId = ARGV[1]
local raw = rcall('HGET', KEYS[4], orderId)
if not raw then
  return { Outcome.NOT_FOUND, -1 }
end
local record = cjson.decode(raw)
if record.releasedAt then
  return { Outcome.ALREADY_RELEASED, tonumber(rcall('GET', KEYS[1]) or '0') }
end
if rcall('HEXISTS', KEYS[2], 'frozen') == 1 then
  return { Outcome.FROZEN, -1 }
end

local remaining = rcall('INCRBY', KEYS[1], record.qty)
rcall('HINCRBY', KEYS[2], 'released', record.qty)
-- Only this order's units leave the holding: the user may hold others.
releaseHolding(KEYS[3], record.userId, orderId)
record.releasedAt = tonumber(ARGV[3])
record.reason = ARGV[2]
rcall('HSET', KEYS[4], orderId, cjson.encode(record))
rcall('PUBLISH', ARGV[5], 'ON_SALE ' .. ARGV[4])
return { Outcome.RELEASED, remaining }
