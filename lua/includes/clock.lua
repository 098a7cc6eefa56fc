--[[
  Redis's own clock, the one every process of a sale agrees on (TIME is
  allowed in scripts: Redis 7 replicates a script's effects, not the script).
]]

-- Milliseconds since the epoch, Redis time.
local function redisNowMs()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
