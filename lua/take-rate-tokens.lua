--[[
  Lease a server process a chunk of tokens from the fleet's token bucket
  (serve --rate/--burst), so every process sharing this Redis admits at most
  `rate` requests a second and bursts of `burst` between them, at one round
  trip per lease instead of one per request. The same call hands back what
  the process left unspent of its last lease, so a fleet whose processes
  lease more than they spend loses nothing; the bucket never holds more than
  burst, so handed-back tokens cannot make a burst larger. The bucket refills
  on Redis's own clock (TIME, allowed in scripts since Redis 5 with effect
  replication), so the processes' clocks never need to agree.

  KEYS[1] {rate}:bucket:<rate>:<burst>   hash: tokens (fractional), at (µs of
                                        the last refill, Redis time)

  ARGV[1] rate, tokens a second
  ARGV[2] burst, the most the bucket holds (a missing bucket is full)
  ARGV[3] tokens wanted (this lease's size, at most burst)
  ARGV[4] tokens handed back: the unspent rest of the process's last lease,
          put back before this lease is taken (capped at burst)
  ARGV[5] a full lease (the most a process leases at a time): what a
          process waits for once the bucket is short

  Returns { granted, msUntilLease }:
    granted        min(wanted, whole tokens in the bucket), taken from it
    msUntilLease   0 while the bucket still holds another lease of this size;
                   else ms until it holds a full lease again: once what it was
                   granted is spent, the process refuses on its own until then
                   instead of asking again (so a short bucket costs a process
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

local tokens = burst
local bucket = rcall('HMGET', KEYS[1], 'tokens', 'at')
if bucket[1] then
  -- max(0, …): a failover may hand the key to a master whose clock is behind.
  local elapsed = math.max(0, now - tonumber(bucket[2]))
  tokens = tonumber(bucket[1]) + elapsed * rate / 1000000
end
tokens = math.min(burst, tokens + handedBack)

local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
rcall('HSET', KEYS[1], 'tokens', tokens, 'at', now)
-- Once full again the bucket is the same as no bucket: let an idle one vanish.
rcall('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 5000)

local msUntilLease = 0
if tokens < wanted then
  msUntilLease = math.ceil(math.max(0, fullLease - tokens) * 1000 / rate)
end
return { granted, msUntilLease }
