--[[
  stats: the queue's counts, read in one atomic step.

  KEYS    the 20 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  Returns { ready, delayed, inflight, dead, expired, dropped }.
    dead counts every item held by the dead-letter queue, whatever its state.
  Side effects: maintenance (see get), so the counts reflect the current time.
]]
--@include queue

local now = now_ms(ARGV[1])
maintain_if_due(Q, D, now)
local dead = visible_count(D) + redis.call('ZCARD', D.delayed) + redis.call('HLEN', D.inflight)
return {
  visible_count(Q),
  redis.call('ZCARD', Q.delayed),
  redis.call('HLEN', Q.inflight),
  dead,
  tonumber(redis.call('HGET', Q.meta, 'expired') or '0'),
  tonumber(redis.call('HGET', Q.meta, 'dropped') or '0'),
}
