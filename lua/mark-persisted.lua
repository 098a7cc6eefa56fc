--[[
  Mark reservations as written to MySQL, so reconcile counts them as
  persisted rather than in flight. Idempotent; a released reservation is left
  as it is (its stock is already back on sale).

  KEYS[1] {sku}:reservations

  ARGV[1]     now, ms since epoch
  ARGV[2..n]  order ids

  Returns the number of reservations newly marked.

  A consumer marks a whole batch at once, so the records are read with one
  HMGET and written with one HSET per thousand ids (unpack() stays far below
  Lua's C stack), and the mark is written into the JSON text as it is — a
  record is a JSON object, and its keys (never in a user's id: ids cannot hold
  a '"') say whether it is persisted or released — rather than decoded and
  encoded again per order.
]]
local rcall = redis.call
local CHUNK = 1000
local mark = '{"persistedAt":' .. ARGV[1] .. ','

local marked, seen = 0, {}
for first = 2, #ARGV, CHUNK do
  local last = math.min(#ARGV, first + CHUNK - 1)
  local ids = {}
  -- An id given twice (a redelivery within one batch) is marked, and counted, once.
  for i = first, last do
    if not seen[ARGV[i]] then
      seen[ARGV[i]] = true
      ids[#ids + 1] = ARGV[i]
    end
  end
  local records = #ids > 0 and rcall('HMGET', KEYS[1], unpack(ids)) or {}
  local writes = {}
  for i, raw in ipairs(records) do
    if raw and not string.find(raw, '"persistedAt"', 1, true) and not string.find(raw, '"releasedAt"', 1, true) then
      writes[#writes + 1] = ids[i]
      writes[#writes + 1] = mark .. string.sub(raw, 2)
    end
  end
  if #writes > 0 then
    rcall('HSET', KEYS[1], unpack(writes))
    marked = marked + #writes / 2
  end
end
return marked
