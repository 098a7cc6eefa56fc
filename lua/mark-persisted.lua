--[[
  Mark reservations as written to MySQL, so reconcile counts them as
  persisted rather than in flight. Idempotent; a released reservation is left
  as it is (its stock is already back on sale).

  KEYS[1] {sku}:reservations

  ARGV[1]     now, ms since epoch
  ARGV[2..n]  order ids

  Returns the number of reservations newly marked.
]]
local rcall = redis.call

local marked = 0
for i = 2, #ARGV do
  local raw = rcall('HGET', KEYS[1], ARGV[i])
  if raw then
    local record = cjson.decode(raw)
    if not record.persistedAt and not record.releasedAt then
      record.persistedAt = tonumber(ARGV[1])
      rcall('HSET', KEYS[1], ARGV[i], cjson.encode(record))
      marked = marked + 1
    end
  end
end
return marked
