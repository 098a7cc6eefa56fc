--[[
  Hand a server process a chunk of admission tickets for one SKU (or one
  bucket of a bucketed SKU: every key here is the bucket's), so the
  admission cap (factor x units ever put on sale) is shared by every process
  without a Redis round trip per request. reserve.lua gives a ticket back
  for every answer but OK, so the tickets out count buyers who bought or are
  buying right now.

  KEYS[1] {sku}:admitted   tickets handed out, less those given back
  KEYS[2] {sku}:meta       initial, released, startsAt; a bucket's sent and received (transfers)
  KEYS[3] {sku}:stock      units on sale

  ARGV[1] tickets wanted (the chunk size)
  ARGV[2] admission factor K
  ARGV[3] now, ms since epoch

  Returns { outcome, detail }:
    ADMITTED          detail tickets granted (at least 1)
    ADMISSION_CLOSED  the cap is reached: try again shortly
    NOT_LOADED        the SKU was never preloaded
    SOLD_OUT          nothing is left on sale (in this bucket: see
                      src/sale/transfers.ts); detail is meta 'released',
                      which changes whenever units come back, so a process
                      can tell a stale snapshot
    NOT_STARTED       the sale has not started; detail is startsAt, until
                      when the process may answer NOT_STARTED itself
]]
local rcall = redis.call
--- @include "outcomes"

local meta = rcall('HMGET', KEYS[2], 'initial', 'released', 'startsAt', 'received', 'sent')
if not meta[1] then
  return { Outcome.NOT_LOADED, 0 }
end
local released = tonumber(meta[2] or '0')
local startsAt = tonumber(meta[3] or '0')
if startsAt > 0 and tonumber(ARGV[3]) < startsAt then
  return { Outcome.NOT_STARTED, startsAt }
end
if tonumber(rcall('GET', KEYS[3]) or '0') <= 0 then
  return { Outcome.SOLD_OUT, released }
end
local cap = tonumber(ARGV[2]) * (tonumber(meta[1]) + released + tonumber(meta[4] or '0') - tonumber(meta[5] or '0'))
local admitted = tonumber(rcall('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), cap - admitted)
if grant <= 0 then
  return { Outcome.ADMISSION_CLOSED, 0 }
end
rcall('INCRBY', KEYS[1], grant)
return { Outcome.ADMITTED, grant }
