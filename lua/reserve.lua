--[[
  Reserve stock for one or more buy requests of one SKU (group commit: the
  gateway sends the requests of a SKU that arrive together in one call).
  Atomic: either every write below happens or none does, so "reserved" and
  "queued for MySQL" are one fact.

  The requests are decided in the order given, each exactly as if it were
  alone in a call of its own made after the ones before it: all or nothing
  per buyer (no partial fill), and a user or a request id that comes twice
  sees its own earlier request (one OK, then LIMIT or DUPLICATE).

  KEYS[1] {sku}:stock         units still on sale
  KEYS[2] {sku}:meta          hash: limit, startsAt, endsAt (ms, 0 = open), frozen,
                              closedAt, buckets (a bucket of a bucketed SKU: every key here is
                              the bucket's, and its emptying is not the SKU's)
  KEYS[3] {sku}:holders       hash: userId -> holding (see includes/holdings.lua)
  KEYS[4] {sku}:requests      hash: userId/requestId -> orderId
  KEYS[5] {sku}:reservations  hash: orderId -> JSON reservation record
  KEYS[6] {sku}:outbox        stream read by the relay: one entry per call that
                              reserved, its one field 'event' (STREAM_FIELD in
                              src/redis/keys.ts) holding the call's order events,
                              one JSON text per line (src/sale/order-event.ts)
  KEYS[7] {sku}:admitted      admission tickets that bought (see take-tickets.lua)
  KEYS[8] {sku}:ticket-leases hash: lease id -> tickets the lease still holds

  ARGV[1] sku
  ARGV[2] pub/sub channel for stock events
  then five per request, the i-th (from 0) at ARGV[3 + 5i ..]:
    user id
    quantity (integer >= 1, validated by the caller)
    request id, or '' when the buyer sent none
    order id to use if this request reserves (unique per request)
    the admission lease whose ticket the caller spent on it, or ''

  The sale window is judged on Redis's clock (TIME), the one every gateway
  agrees on, at the moment the call runs; a closed sale (closedAt) has ended.

  A call may run twice: a client resends an unanswered command after a
  reconnect. A request whose order id is already reserved answers OK with
  it again and changes nothing, so a rerun sells no unit twice.

  Returns a flat list, three per request in the order given:
  outcome, orderId, remaining —
    OK           orderId is the new order; remaining is the stock left after it
    OK           also for a request whose order id an earlier run of this call reserved
    DUPLICATE    this user already sent this request id; orderId is its order
    LIMIT        the user's units plus qty exceed the per-user limit; orderId
                 is their newest order ('' when they hold none: qty alone is over it)
    SOLD_OUT     fewer units left than asked for; nothing sold (no partial
                 fill); remaining is what is left
    NOT_STARTED / ENDED   outside the sale window
    NOT_LOADED   the SKU was never preloaded
    FROZEN       reconcile is resetting the SKU from MySQL: retry in a moment
  remaining is -1 where the answer has none, orderId '' where it has none.

  Every request that spent a ticket takes it off its lease; an OK keeps it
  for good (KEYS[7]), any other answer gives it back: the cap counts buyers
  who can buy, so a crowd before the opening, a user past the limit or a
  retry never closes admission while units are left.

  What a call costs Redis: the reads and writes shared by its requests (the
  meta, the stock, one HMGET and one HSET per hash, one outbox entry) are paid
  once per call; per reservation, only its fields in those hashes, its line of
  the entry and the JSON text of its event.
]]
local rcall = redis.call
--- @include "outcomes"
--- @include "holdings"
--- @include "clock"

local sku, channel = ARGV[1], ARGV[2]
local FIRST, PER_REQUEST = 3, 5
local count = (#ARGV - FIRST + 1) / PER_REQUEST

-- What every request of the call reads: the sale's settings and its stock.
local meta = rcall('HMGET', KEYS[2], 'limit', 'startsAt', 'endsAt', 'frozen', 'buckets', 'closedAt')
local loaded, frozen, closed = meta[1] ~= false, meta[4] ~= false, meta[6] ~= false
local limit = tonumber(meta[1] or '0')
local startsAt, endsAt = tonumber(meta[2] or '0'), tonumber(meta[3] or '0')
local stock = loaded and tonumber(rcall('GET', KEYS[1]) or '0') or 0
local now = redisNowMs()

-- The request ids and holdings of the call's users, read once; the call's
-- own reservations are written into these tables as it goes, so a later
-- request of the same user or id sees them.
local requestFields, users, orderIds, hasRequestIds = {}, {}, {}, false
for i = 0, count - 1 do
  local at = FIRST + i * PER_REQUEST
  users[#users + 1] = ARGV[at]
  orderIds[#orderIds + 1] = ARGV[at + 3]
  local requestId = ARGV[at + 2]
  requestFields[#requestFields + 1] = requestId ~= '' and (ARGV[at] .. '/' .. requestId) or ''
  hasRequestIds = hasRequestIds or requestId ~= ''
end
local seenRequests, holdings, reservedBefore = {}, {}, {}
if hasRequestIds then
  local seen = rcall('HMGET', KEYS[4], unpack(requestFields))
  for i, field in ipairs(requestFields) do
    if field ~= '' and seen[i] then seenRequests[field] = seen[i] end
  end
end
if loaded then
  local records = rcall('HMGET', KEYS[5], unpack(orderIds))
  for i, orderId in ipairs(orderIds) do
    if records[i] then reservedBefore[orderId] = true end
  end
  local held = rcall('HMGET', KEYS[3], unpack(users))
  for i, userId in ipairs(users) do
    if holdings[userId] == nil then holdings[userId] = held[i] or '' end
  end
end

local replies, sold, bought, spent = {}, 0, 0, {}
local newHoldings, newRequests, newRecords, events = {}, {}, {}, {}

-- `lease`: the admission lease whose ticket the request spent ('' for none).
local function answer(outcome, orderId, remaining, lease)
  if lease ~= '' then
    spent[lease] = (spent[lease] or 0) + 1
    if outcome == Outcome.OK then bought = bought + 1 end
  end
  replies[#replies + 1] = outcome
  replies[#replies + 1] = orderId
  replies[#replies + 1] = remaining
end

for i = 0, count - 1 do
  local at = FIRST + i * PER_REQUEST
  local userId, qty, requestId, orderId, lease = ARGV[at], tonumber(ARGV[at + 1]), ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local field = requestFields[i + 1]

  if reservedBefore[orderId] then
    -- This call ran before (its reply was lost): the same answer, and its ticket was counted then.
    answer(Outcome.OK, orderId, stock, '')
  -- A retry must get its original answer, even after the sale has ended.
  elseif field ~= '' and seenRequests[field] then
    answer(Outcome.DUPLICATE, seenRequests[field], -1, lease)
  elseif not loaded then
    answer(Outcome.NOT_LOADED, '', -1, lease)
  elseif closed or (endsAt > 0 and now >= endsAt) then
    answer(Outcome.ENDED, '', -1, lease)
  elseif frozen then
    answer(Outcome.FROZEN, '', -1, lease)
  elseif startsAt > 0 and now < startsAt then
    answer(Outcome.NOT_STARTED, '', -1, lease)
  else
    local held, newest = heldUnits(holdings[userId])
    if held + qty > limit then
      answer(Outcome.LIMIT, newest or '', -1, lease)
    elseif stock < qty then
      answer(Outcome.SOLD_OUT, '', stock, lease)
    else
      stock = stock - qty
      sold = sold + qty
      holdings[userId] = withOrder(holdings[userId], orderId, qty)
      newHoldings[userId] = true
      if field ~= '' then
        seenRequests[field] = orderId
        newRequests[#newRequests + 1] = field
        newRequests[#newRequests + 1] = orderId
      end
      local event = cjson.encode({
        orderId = orderId, sku = sku, userId = userId, qty = qty,
        requestId = requestId, createdAt = now,
      })
      newRecords[#newRecords + 1] = orderId
      newRecords[#newRecords + 1] = event
      events[#events + 1] = event
      answer(Outcome.OK, orderId, stock, lease)
    end
  end
end

if sold > 0 then
  rcall('DECRBY', KEYS[1], sold)
  local holderPairs = {}
  for userId in pairs(newHoldings) do
    holderPairs[#holderPairs + 1] = userId
    holderPairs[#holderPairs + 1] = holdings[userId]
  end
  rcall('HSET', KEYS[3], unpack(holderPairs))
  if #newRequests > 0 then rcall('HSET', KEYS[4], unpack(newRequests)) end
  rcall('HSET', KEYS[5], unpack(newRecords))
  rcall('XADD', KEYS[6], '*', 'event', table.concat(events, '\n'))
  -- One bucket of several running dry is no sell-out: src/sale/transfers.ts
  -- refills it, or proves every bucket empty and announces it.
  if stock == 0 and not meta[5] then rcall('PUBLISH', channel, 'SOLD_OUT ' .. sku) end
end
-- Each ticket spent comes off its lease (a lease that expired meanwhile is
-- gone: the HINCRBY makes a field below zero, removed at once).
for lease, n in pairs(spent) do
  if rcall('HINCRBY', KEYS[8], lease, -n) <= 0 then rcall('HDEL', KEYS[8], lease) end
end
if bought > 0 then rcall('INCRBY', KEYS[7], bought) end
return replies
