--[[
  Announce to every server process that a bucketed SKU is sold out, once per
  sell-out: only when this proof is news (the SKU's returned units, summed
  over its buckets, differ from those of the last announcement). Processes
  re-prove a sell-out every --sold-out-ttl, each on its own; announcing every
  proof would make every subscriber throw its snapshot away and read the
  SKU's holders and request ids again, P² reloads a second across P processes.

  KEYS[1] {sku}:meta   bucket 0's: 'soldOutAnnounced' holds the returned units
                       of the last announcement

  ARGV[1] the SKU's returned units ('released' summed over its buckets) at this proof
  ARGV[2] pub/sub channel for stock events
  ARGV[3] sku

  Returns 1 when it announced, 0 when this sell-out was announced already.
]]
local rcall = redis.call

if rcall('HGET', KEYS[1], 'soldOutAnnounced') == ARGV[1] then
  return 0
end
rcall('HSET', KEYS[1], 'soldOutAnnounced', ARGV[1])
rcall('PUBLISH', ARGV[2], 'SOLD_OUT ' .. ARGV[3])
return 1
