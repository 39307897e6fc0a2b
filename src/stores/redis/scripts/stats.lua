--[[
  stats: the queue's counts and running totals, read in one atomic step.

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  Returns { ready, delayed, inflight, dead, expired, dropped, puts, deliveries, dones,
    expiries, dead_lettered, empty_reads, head_age_ms }.
    dead counts every item held by the dead-letter queue, whatever its state.
    head_age_ms: how long ago the next item a read would deliver entered the queue
    (put, or dead-lettered / redriven into it; see reserve_seq), -1 when none is ready.
  Side effects: maintenance (see get), so the counts reflect the current time.
]]
--@include queue

local now = now_ms(ARGV[1])
maintain_if_due(Q, D, now)
local dead = visible_count(D) + redis.call('ZCARD', D.delayed) + redis.call('HLEN', D.inflight)
local totals = redis.call('HMGET', Q.meta, 'expired', 'dropped', 'puts', 'deliveries', 'dones', 'expiries',
  'dead_lettered', 'empty_reads')
local head = take(Q, 1, false, now)[1]
-- a queue of ordered groups only: the head of the next ready group
if not head and redis.call('HGET', Q.meta, 'groups') then
  local recs = {}
  group_lib().peek_runs(recs, 1)
  head = recs[1]
end
-- items of ordered groups waiting for their turn count as ready (KEYS[23], group-items)
local out = { visible_count(Q) + redis.call('ZCARD', KEYS[23]), redis.call('ZCARD', Q.delayed), redis.call('HLEN', Q.inflight), dead }
for i = 1, 8 do out[#out + 1] = tonumber(totals[i] or '0') end
out[#out + 1] = head and math.max(0, now - born_of(head)) or -1
return out
