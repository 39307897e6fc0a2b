--[[
  maintain: brings a queue up to date with time, and nothing else. Operations on a
  dead-letter queue run it on the parent queue first, so that items whose last delivery
  ended are in the dead-letter queue whether or not anyone uses the parent.

  KEYS    the 25 queue keys of the parent (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  Returns ms until the queue's next lease deadline, -1 when nothing is in flight: a
    blocking read of the dead-letter queue wakes then, as a lease that expires may
    dead-letter its item without anything else waking it.
  Side effects: due delayed items become visible, expired leases are requeued /
  dead-lettered / dropped, ttl-expired items go (see maintain in lib/queue.lua).
]]
--@include queue

check_queue_format(Q)
local now = now_ms(ARGV[1])
maintain_if_due(Q, D, now)
local first = redis.call('ZRANGE', Q.leases, 0, 0, 'WITHSCORES')
return first[2] and math.max(0, tonumber(first[2]) - now) or -1
