--[[
  done: finishes the items whose current delivery is one of the given leases.

  KEYS    the 25 queue keys (see lib/queue.lua)
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
--@include ops

local report = ARGV[2] == 'leases'
local finished, done_leases = finish_leases(read_groups(3), now_ms(ARGV[1]), report)
if report then return done_leases end
return finished
