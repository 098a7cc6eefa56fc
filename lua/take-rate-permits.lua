--[[
  Lease a server process a chunk of permits from the fleet's rate limit
  (serve --rate/--burst), so every process sharing this Redis admits at most
  `rate` requests a second and bursts of `burst` between them, at one round
  trip per lease instead of one per request. The same call hands back what
  the process left unspent of its last lease, so a fleet whose processes
  lease more than they spend loses nothing; the pool never holds more than
  burst, so handed-back permits cannot make a burst larger. The pool refills
  on Redis's own clock (TIME, allowed in scripts since Redis 5 with effect
  replication), so the processes' clocks never need to agree.

  KEYS[1] {rate}:permits:<rate>:<burst>   hash: permits (fractional), at (µs of
                                        the last refill, Redis time)

  ARGV[1] rate, permits a second
  ARGV[2] burst, the most the pool holds (a missing pool is full)
  ARGV[3] permits wanted (this lease's size, at most burst)
  ARGV[4] permits handed back: the unspent rest of the process's last lease,
          put back before this lease is taken (capped at burst)
  ARGV[5] a full lease (the most a process leases at a time): what a
          process waits for once the pool is short

  Returns { granted, msUntilLease }:
    granted        min(wanted, whole permits in the pool), taken from it
    msUntilLease   0 while the pool still holds another lease of this size;
                   else ms until it holds a full lease again: once what it was
                   granted is spent, the process refuses on its own until then
                   instead of asking again (so a short pool costs a process
                   about one call per full lease's refill, whatever its own
                   lease size)
]]
local rcall = redis.call

local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local handedBack = tonumber(ARGV[4])
local fullLease = tonumber(ARGV[5])
local time = rcall('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local permits = burst
local pool = rcall('HMGET', KEYS[1], 'permits', 'at')
if pool[1] then
  -- max(0, …): a failover may hand the key to a master whose clock is behind.
  local elapsed = math.max(0, now - tonumber(pool[2]))
  permits = tonumber(pool[1]) + elapsed * rate / 1000000
end
permits = math.min(burst, permits + handedBack)

local granted = math.min(wanted, math.floor(permits))
permits = permits - granted
rcall('HSET', KEYS[1], 'permits', permits, 'at', now)
-- Once full again the pool is the same as no pool: let an idle one vanish.
rcall('PEXPIRE', KEYS[1], math.ceil((burst - permits) * 1000 / rate) + 5000)

local msUntilLease = 0
if permits < wanted then
  msUntilLease = math.ceil(math.max(0, fullLease - permits) * 1000 / rate)
end
return { granted, msUntilLease }
