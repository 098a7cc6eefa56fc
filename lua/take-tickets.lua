--[[
  Lease a server process a chunk of admission tickets for one SKU (or one
  bucket of a bucketed SKU: every key here is the bucket's), so the
  admission cap (factor x units ever put on sale) is shared by every process
  without a Redis round trip per request.

  Tickets out = tickets that bought (KEYS[1]) + what the live leases still
  hold (KEYS[2]). A lease holds its tickets until each is decided by
  reserve.lua (OK moves it to KEYS[1]; any other answer gives it back), given
  back (return-tickets.lua, on SIGTERM) or its deadline passes: a process
  that dies or stalls strands its tickets for one lease length at most, and
  nothing but a purchase uses a ticket up for good.

  Everything is judged on Redis's clock (TIME), never the caller's: the sale
  window and the lease deadlines mean the same to every process.

  KEYS[1] {sku}:admitted       tickets that bought (requests reserve.lua answered OK)
  KEYS[2] {sku}:ticket-leases  hash: lease id -> tickets the lease still holds;
                               a lease id is "<deadline ms, Redis time>.<holder>.<n>"
  KEYS[3] {sku}:meta           initial, released, startsAt, endsAt, closedAt; a
                               bucket's sent and received (transfers)
  KEYS[4] {sku}:stock          units on sale

  ARGV[1] tickets wanted (the chunk size)
  ARGV[2] admission factor K
  ARGV[3] the lease's name, "<holder>.<n>", unique per take: a take run
          twice (a client resending after a reconnect) finds its lease and
          answers it again instead of granting a second one
  ARGV[4] lease length, ms

  Returns { outcome, detail, leaseId }:
    ADMITTED          detail tickets granted (at least 1), under leaseId, which
                      the process passes to reserve.lua with each ticket it spends
    ADMISSION_CLOSED  the cap is reached: try again shortly
    NOT_LOADED        the SKU was never preloaded
    SOLD_OUT          nothing is left on sale (in this bucket: see
                      src/sale/transfers.ts); detail is meta 'released',
                      which changes whenever units come back, so a process
                      can tell a stale snapshot
    NOT_STARTED       the sale has not started; detail is the ms until it
                      does, during which the process may answer NOT_STARTED itself
    ENDED             the sale has ended, or was closed
  leaseId is '' but for ADMITTED.
]]
local rcall = redis.call
--- @include "outcomes"
--- @include "clock"

local meta = rcall('HMGET', KEYS[3], 'initial', 'released', 'startsAt', 'received', 'sent', 'endsAt', 'closedAt')
if not meta[1] then
  return { Outcome.NOT_LOADED, 0, '' }
end
local now = redisNowMs()
local startsAt, endsAt = tonumber(meta[3] or '0'), tonumber(meta[6] or '0')
if meta[7] or (endsAt > 0 and now >= endsAt) then
  return { Outcome.ENDED, 0, '' }
end
if startsAt > 0 and now < startsAt then
  return { Outcome.NOT_STARTED, startsAt - now, '' }
end
if tonumber(rcall('GET', KEYS[4]) or '0') <= 0 then
  return { Outcome.SOLD_OUT, tonumber(meta[2] or '0'), '' }
end

-- The live leases: expired ones go, this take's own (if it ran before) is answered again.
local live, holders = 0, 0
local leases = rcall('HGETALL', KEYS[2])
local suffix = '.' .. ARGV[3]
for i = 1, #leases, 2 do
  local leaseId, held = leases[i], tonumber(leases[i + 1])
  if tonumber(string.match(leaseId, '^(%d+)%.')) <= now then
    rcall('HDEL', KEYS[2], leaseId)
  elseif string.sub(leaseId, -#suffix) == suffix then
    return { Outcome.ADMITTED, held, leaseId }
  else
    live = live + held
    holders = holders + 1
  end
end

local everOnSale = tonumber(meta[1]) + tonumber(meta[2] or '0') + tonumber(meta[4] or '0') - tonumber(meta[5] or '0')
local free = tonumber(ARGV[2]) * everOnSale - tonumber(rcall('GET', KEYS[1]) or '0') - live
-- Near the cap, chunks shrink: a taker gets at most a share of what is left
-- (half of it when nobody else holds a lease, a third beside one other, …),
-- so one process cannot sit on the last tickets while the others answer 429.
local grant = math.min(tonumber(ARGV[1]), math.ceil(free / (holders + 2)))
if grant <= 0 then
  return { Outcome.ADMISSION_CLOSED, 0, '' }
end
local leaseId = string.format('%d', now + tonumber(ARGV[4])) .. suffix
rcall('HSET', KEYS[2], leaseId, grant)
return { Outcome.ADMITTED, grant, leaseId }
