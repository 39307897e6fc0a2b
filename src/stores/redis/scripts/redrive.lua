--[[
  redrive: moves visible dead letters back to the queue with fresh attempts.

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] at most this many items, 1..1000
  Returns the number of items moved.
  Side effects: the items leave the dead-letter queue in its delivery order and are
  appended to the queue with new seqs, 0 deliveries, their priority and no ttl; blocked
  readers of the queue are woken. Items the dead-letter queue holds in flight or
  delayed stay where they are.
]]
--@include queue

check_queue_format(Q)
local now = now_ms(ARGV[1])
-- the queue's own expired leases first: they may be dead letters that belong in this redrive
maintain_if_due(Q, D, now)
maintain_if_due(D, nil, now)
local recs = take(D, tonumber(ARGV[2]), true, now)
local parsed = {}
for i, rec in ipairs(recs) do
  local r = timers().parse_record(rec)
  r.deliveries = 0
  r.ttl = 0
  parsed[i] = r
end
-- dead letters of ordered groups go back to their groups (lib/groups.lua)
if has_groups() then parsed = group_lib().redrive(parsed) end
timers().append_fresh(Q, parsed, false, now)
return #recs
