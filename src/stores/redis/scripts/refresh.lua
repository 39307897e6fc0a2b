--[[
  refresh: extends live leases to now + visibility timeout.

  KEYS    the 25 queue keys (see lib/queue.lua)
  ARGV[1] clock (test hook, "0" in production; see lib/queue.lua now_ms)
  ARGV[2] visibility timeout in ms, > 0
  ARGV[3..] lease groups: <group count>, then per group <entry> <n> <item id>*n
  Returns the leases extended.
  Side effects: when every live lease of an entry is refreshed, the entry's deadline
  moves; otherwise the refreshed leases move to a new refresh entry (owners records it)
  that keeps the attempts and dead-letter setting of the entry they came from. A
  refresh that shortens a lease appends to the signal stream, and to the dead-letter
  queue's when the lease's entry dead-letters: blocked readers computed their wait from
  the deadlines they saw, so they read again and wait for the new one.
  Invariant: stale or unknown leases are left out and change nothing; a lease is never
  extended past its item's current delivery.
]]
--@include queue
--@include ops

local now = now_ms(ARGV[1])
return refresh_leases(read_groups(3), now + tonumber(ARGV[2]), now)
