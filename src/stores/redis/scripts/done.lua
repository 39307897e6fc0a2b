--[[
  done: finishes the items whose current delivery is one of the given leases.

  KEYS    the 20 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/clock.lua)
  ARGV[2] 'count' to return how many items were finished, 'leases' to return their leases
  ARGV[3..] lease groups: <group count>, then per group <entry> <n> <item id>*n
  Returns the number of items finished, or their leases.
  Side effects: deletes the inflight fields of live leases for good and counts them in
  meta.dones; an entry whose leases are all settled is removed with its deadline.
  Invariant: a stale lease (deadline passed, redelivered, dead-lettered, done) or a lease
  this queue never issued changes nothing.
]]
--@include queue

local now = now_ms(ARGV[1])
local groups = read_groups(3)
local report = ARGV[2] == 'leases'
local finished = 0

if not report and redis.call('EXISTS', Q.owners) == 0 then
  -- the common case: no refreshed leases, every lease belongs to its own batch entry
  for _, g in ipairs(groups) do
    if entry_is_live(Q, g.entry, now) then
      local n = redis.call('HDEL', Q.inflight, unpack(g.leases))
      release_from_entry(Q, g.entry, n)
      finished = finished + n
    end
  end
  if finished > 0 then redis.call('HINCRBY', Q.meta, 'dones', finished) end
  return finished
end

local by_owner, order = live_by_owner(Q, groups, now)
local done_leases = {}
for _, owner in ipairs(order) do
  local leases = by_owner[owner]
  redis.call('HDEL', Q.inflight, unpack(leases))
  redis.call('HDEL', Q.owners, unpack(leases))
  release_from_entry(Q, owner, #leases)
  finished = finished + #leases
  for _, lease in ipairs(leases) do done_leases[#done_leases + 1] = lease end
end
if finished > 0 then redis.call('HINCRBY', Q.meta, 'dones', finished) end
if report then return done_leases end
return finished
