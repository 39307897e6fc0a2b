--[[
  maintain: brings a queue up to date with time, and nothing else. Operations on a
  dead-letter queue run it on the parent queue first, so that items whose last delivery
  ended are in the dead-letter queue whether or not anyone uses the parent.

  KEYS    the 20 queue keys of the parent (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  Returns 0.
  Side effects: due delayed items become visible, expired leases are requeued /
  dead-lettered / dropped, ttl-expired items go (see maintain in lib/queue.lua).
]]
--@include queue

maintain_if_due(Q, D, now_ms(ARGV[1]))
return 0
