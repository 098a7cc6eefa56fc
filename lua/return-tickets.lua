--[[
  Give back the unspent tickets of an admission lease (see take-tickets.lua):
  a process stopping (SIGTERM) hands back what it did not use, so a rolling
  deploy strands nothing even for a lease length.

  KEYS[1] {sku}:ticket-leases  hash: lease id -> tickets the lease still holds

  ARGV[1] lease id
  ARGV[2] unspent tickets given back

  Returns the tickets the lease still holds (spent on requests not yet
  decided); 0 once it holds none, and then the lease is gone.
]]
local rcall = redis.call

local held = rcall('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))
if held <= 0 then
  rcall('HDEL', KEYS[1], ARGV[1])
  return 0
end
return held
