--[[
  The time on the clock that judges a sale: Redis's own, on the master that
  holds the SKU (the key only routes the call to it). `seckill close` ends a
  sale and judges whether it has ended on this clock, as reserve.lua does.

  KEYS[1] {sku}:meta   unread: it only routes the call to the SKU's master

  Returns ms since the epoch, Redis time.
]]
--- @include "clock"

return redisNowMs()
