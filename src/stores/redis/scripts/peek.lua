--[[
  peek: the next visible items in delivery order, without delivering them.

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] count, 1..1000
  Returns the records, in delivery order.
  Side effects: maintenance only (see get); the items themselves are not touched.
]]
--@include queue

local now = now_ms(ARGV[1])
maintain_if_due(Q, D, now)
local count = tonumber(ARGV[2])
local recs = take(Q, count, false, now)
-- then the head runs of ready ordered groups, as a read takes them (lib/groups.lua)
if #recs < count and redis.call('HGET', Q.meta, 'groups') then group_lib().peek_runs(recs, count - #recs) end
return recs
