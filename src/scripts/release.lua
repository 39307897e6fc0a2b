--[[
  release: ends live deliveries without done, so the items can be read again.

  KEYS    the 20 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] delay in ms before the items are visible again (0 = at once)
  ARGV[3] 1 if the delivery uses an attempt (a failure), 0 if it does not (never started)
  ARGV[4..] lease groups: <group count>, then per group <entry> <n> <item id>*n
  Returns { lease_1, outcome_1, ... } for live leases, outcome 'requeued', 'dead' or
  'dropped' (attempts spent, without / with dead letters).
  Side effects: the inflight fields go; requeued items go to sorted (or delayed), spent
  ones to the dead-letter queue or away; blocked readers are woken.
  Invariant: stale or unknown leases change nothing.
]]
--@include queue

local now = now_ms(ARGV[1])
local visible_at = now + tonumber(ARGV[2])
local count_delivery = ARGV[3] == '1'
local by_owner, order, records = live_by_owner(Q, read_groups(4), now)
local out, dead_batch, requeued = {}, {}, false

for _, owner in ipairs(order) do
  local leases = by_owner[owner]
  local attempts, use_dead = parse_entry(redis.call('HGET', Q.entries, owner))
  for _, lease in ipairs(leases) do
    local outcome = settle_undone(Q, D, records[lease], attempts, use_dead, visible_at, now,
      count_delivery, dead_batch)
    if outcome == 'requeued' then requeued = true end
    out[#out + 1] = lease
    out[#out + 1] = outcome
  end
  redis.call('HDEL', Q.inflight, unpack(leases))
  redis.call('HDEL', Q.owners, unpack(leases))
  release_from_entry(Q, owner, #leases)
end
append_dead(D, dead_batch, now)
if requeued then signal(Q) end
return out
