--[[
  limit: pauses every read of a queue until now + ARGV[2] ms, or lifts the pause (0).

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] the pause in ms from now; 0 lifts it
  Returns the end of the pause (ms since the epoch), 0 when lifted.
  Side effects: sets or deletes meta.paused (lib/limits.lua); appends to the limit signal,
  so that readers blocked by the pause read again and see the new end (or none).
  Invariant: a read whose store time is before meta.paused delivers nothing; the pause
  never touches items or leases (leased items stay leased, done and refresh still work).
]]
--@include queue

check_queue_format(Q)
local now = now_ms(ARGV[1])
local ms = tonumber(ARGV[2])
local paused_until = 0
if ms > 0 then
  paused_until = now + ms
  redis.call('HSET', Q.meta, 'paused', int_str(paused_until))
else
  redis.call('HDEL', Q.meta, 'paused')
end
signal(D)
return paused_until
