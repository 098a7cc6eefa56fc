--[[
  Step 1 of moving units between two buckets of a hot SKU (see
  src/sale/transfers.ts): debit the donor bucket and write the transfer
  record, in the donor's slot, atomically. Until step 2 credits the other
  bucket (transfer-in.lua) the units are "in transfer": in no bucket's stock,
  but named by this record, so reconcile counts them and anyone can finish
  the transfer — a crash between the two steps creates no unit and loses none.

  KEYS[1] {sku#from}:stock
  KEYS[2] {sku#from}:meta       'sent' counts units sent away (lowers the admission cap); 'frozen'
  KEYS[3] {sku#from}:transfers  hash: transferId -> JSON record, until the credit is done
  KEYS[4] {sku#from}:sent-transfers  hash: transferId -> units, every transfer this
                                bucket sent (kept after the record goes): a call run
                                twice (a client resending it after a reconnect) debits once

  ARGV[1] transfer id (unique; chosen by the caller)
  ARGV[2] recipient bucket
  ARGV[3] units wanted (integer >= 1)
  ARGV[4] now, ms since epoch

  Returns { outcome, units, remaining }:
    SENT        `units` (1 .. wanted) debited and recorded; remaining is the donor's stock now
                (for a transfer sent before: its units, and nothing changed)
    SHORT       the donor has no unit to give; nothing changed
    NOT_LOADED  no such bucket
    FROZEN      reconcile is resetting the SKU: nothing moves
]]
local rcall = redis.call
--- @include "outcomes"

local sentBefore = rcall('HGET', KEYS[4], ARGV[1])
if sentBefore then
  return { Outcome.SENT, tonumber(sentBefore), tonumber(rcall('GET', KEYS[1]) or '0') }
end
local meta = rcall('HMGET', KEYS[2], 'initial', 'frozen', 'bucket')
if not meta[1] then
  return { Outcome.NOT_LOADED, 0, -1 }
end
if meta[2] then
  return { Outcome.FROZEN, 0, -1 }
end
local stock = tonumber(rcall('GET', KEYS[1]) or '0')
local units = math.min(tonumber(ARGV[3]), stock)
if units < 1 then
  return { Outcome.SHORT, 0, stock }
end
rcall('DECRBY', KEYS[1], units)
rcall('HINCRBY', KEYS[2], 'sent', units)
rcall('HSET', KEYS[4], ARGV[1], units)
rcall('HSET', KEYS[3], ARGV[1], cjson.encode({
  id = ARGV[1], from = tonumber(meta[3] or '0'), to = tonumber(ARGV[2]), units = units, at = tonumber(ARGV[4]),
}))
return { Outcome.SENT, units, stock - units }
