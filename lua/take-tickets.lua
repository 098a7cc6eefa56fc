--[[
  Hand a server process a chunk of admission tickets for one SKU, so the
  admission cap (factor x units ever put on sale) is shared by every process
  without a Redis round trip per request.

  KEYS[1] {sku}:admitted   tickets handed out so far
  KEYS[2] {sku}:meta       initial, released
  KEYS[3] {sku}:stock      units on sale

  ARGV[1] tickets wanted (the chunk size)
  ARGV[2] admission factor K

  Returns the number of tickets granted (0 when the cap is reached), -1
  when the SKU was never preloaded, -2 when nothing is left on sale (the
  buyer is told "sold out", not "try again").
]]
local rcall = redis.call

local meta = rcall('HMGET', KEYS[2], 'initial', 'released')
if not meta[1] then
  return -1
end
if tonumber(rcall('GET', KEYS[3]) or '0') <= 0 then
  return -2
end
local cap = tonumber(ARGV[2]) * (tonumber(meta[1]) + tonumber(meta[2] or '0'))
local admitted = tonumber(rcall('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), cap - admitted)
if grant <= 0 then
  return 0
end
rcall('INCRBY', KEYS[1], grant)
return grant
