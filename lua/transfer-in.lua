--[[
  Step 2 of a transfer between two buckets of a hot SKU: credit the
  recipient bucket with the units step 1 (transfer-out.lua) debited, once.
  Idempotent: the bucket keeps the id of every transfer it was credited
  with, so whoever finishes a transfer — the process that began it, another
  that found it under way, or reconcile after a crash — credits it exactly
  once. Step 3, deleting the donor's record, is a plain HDEL.

  KEYS[1] {sku#to}:stock
  KEYS[2] {sku#to}:meta       'received' counts units received (raises the admission cap)
  KEYS[3] {sku#to}:received   hash: transferId -> units

  ARGV[1] transfer id
  ARGV[2] units

  Returns { outcome, remaining }:
    CREDITED          the units are in the bucket's stock now
    ALREADY_CREDITED  an earlier call credited them; nothing changed
    NOT_LOADED        no such bucket: the record stays, units in transfer
    FROZEN            reconcile is resetting the SKU: the record stays (the reset voids it)
]]
local rcall = redis.call
--- @include "outcomes"

if rcall('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return { Outcome.ALREADY_CREDITED, tonumber(rcall('GET', KEYS[1]) or '0') }
end
local meta = rcall('HMGET', KEYS[2], 'initial', 'frozen')
if not meta[1] then
  return { Outcome.NOT_LOADED, -1 }
end
if meta[2] then
  return { Outcome.FROZEN, -1 }
end
local units = tonumber(ARGV[2])
local remaining = rcall('INCRBY', KEYS[1], units)
-- 'received' only grows: with 'released' it tells a reader of every bucket
-- (sale/transfers.ts, the sold-out proof) that units came into this one.
rcall('HINCRBY', KEYS[2], 'received', units)
rcall('HSET', KEYS[3], ARGV[1], units)
return { Outcome.CREDITED, remaining }
